"""The agents' jobs, queued by name on the agent's host once the transaction commits.
Services and hooks call these; `agents.jobs` imports the services, never the other way."""

from django.conf import settings

from agents.models import Agent, AgentOperation
from orchestrator.celery import enqueue, host_queue


def enqueue_operation(operation: AgentOperation) -> None:
    enqueue("agents.run_operation", args=[operation.pk], queue=host_queue(operation.agent.host),
            expires=settings.TMUX_ORC.operation_expiry)


def enqueue_delivery(agent: Agent) -> None:
    """Have the agent's host deliver its waiting messages (they wait if it is busy)."""
    enqueue("agents.deliver_messages", args=[agent.pk], queue=host_queue(agent.host),
            expires=settings.TMUX_ORC.message_expiry)
