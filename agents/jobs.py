"""Celery jobs for agents: thin, take ids, run on the agent's host queue."""

from celery import shared_task

from agents import delivery, services
from orchestrator.celery import host_queue

__all__ = ["deliver_messages", "host_queue", "run_agent_operation"]


@shared_task(name="agents.run_operation", acks_late=True, soft_time_limit=60, time_limit=90)
def run_agent_operation(operation_id: int) -> None:
    services.operation_run(operation_id=operation_id)


@shared_task(name="agents.deliver_messages", acks_late=True, soft_time_limit=300, time_limit=330)
def deliver_messages(agent_id: int) -> None:
    delivery.deliver_pending(agent_id=agent_id)
