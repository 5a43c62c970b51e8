"""tmux-orc watcher: this host's watcher, in the foreground (`server start` runs it)."""

import logging
import signal

from django.conf import settings

from agents.gateway import local_gateway
from monitoring.watcher import Watcher
from orchestrator.management.base import OrchestratorCommand

log = logging.getLogger("monitoring.watcher")


class Command(OrchestratorCommand):
    help = "Follow the output of this host's agent panes and write each change of state as it happens."

    def handle(self, *args, **options):
        watcher = Watcher(host=settings.TMUX_ORC.agent_host, gateway=local_gateway())
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: watcher.stop())
        log.info("watching the agents of host %s (tmux -L %s)", settings.TMUX_ORC.agent_host,
                 settings.TMUX_ORC.tmux_socket)
        watcher.run()
