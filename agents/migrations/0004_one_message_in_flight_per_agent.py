from django.db import migrations, models


def fail_extra_deliveries(apps, schema_editor):
    """Before the constraint: an agent with several messages in flight keeps the oldest;
    the others are failed (they may have been typed already, so they are not requeued)."""
    Message = apps.get_model("agents", "Message")
    kept: set[int] = set()
    for message in Message.objects.filter(status="delivering").order_by("claimed_at", "id"):
        if message.agent_id in kept:
            Message.objects.filter(pk=message.pk).update(
                status="failed", error="another message to this agent was being delivered at the same time")
        kept.add(message.agent_id)


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0003_message_sent_with"),
        ("orchestrator", "0002_apitoken_agent"),
    ]

    operations = [
        migrations.RunPython(fail_extra_deliveries, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(condition=models.Q(("status", "delivering")), fields=("agent",),
                                               name="one_message_in_flight_per_agent"),
        ),
    ]
