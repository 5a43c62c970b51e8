"""Teams, standups, tasks and scheduled messages in the admin, on real tmux."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from agents.models import Message, MessageStatus
from agents.services import agent_spawn, message_schedule
from tasks.models import Task
from teams.models import Standup, Team

pytestmark = pytest.mark.django_db(transaction=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def deployed(admin_client, project_dir, size=3) -> Team:
    form = {"project_name": "shop", "project_path": project_dir, "team_type": "frontend", "size": size,
            "coordination_strategy": "hub_and_spoke", "isolation": "none", "profile": "shell"}
    response = admin_client.post(reverse("admin:teams_team_add"), form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    return Team.objects.get(name="shop", torn_down_at=None)


def act(admin_client, name, *objects, model="teams/team", **form):
    url = reverse(f"admin:{model.replace('/', '_')}_changelist")
    return admin_client.post(url, {"action": name, "_selected_action": [o.pk for o in objects], **form}, follow=True)


def test_a_team_is_deployed_from_the_admin_and_shows_its_members(admin_client, project_dir, gateway, eager_jobs):
    team = deployed(admin_client, project_dir)

    page = admin_client.get(reverse("admin:teams_team_change", args=[team.pk])).content.decode()

    assert all(name in page for name in ("Shell-pm", "Shell-developer", "Shell-qa"))
    assert sorted(p.window_name for p in gateway.list_panes()) == ["Shell-developer", "Shell-pm", "Shell-qa"]


def test_the_deploy_form_shows_a_service_error_next_to_its_field(admin_client, project_dir, eager_jobs):
    form = {"project_name": "shop", "project_path": project_dir, "team_type": "frontend", "size": 2,
            "coordination_strategy": "hub_and_spoke", "isolation": "worktree", "profile": "shell"}

    response = admin_client.post(reverse("admin:teams_team_add"), form)

    assert response.status_code == 200
    assert "is not a git repository" in response.content.decode()
    assert not Team.objects.exists()


def test_team_actions_broadcast_standup_and_teardown(admin_client, project_dir, gateway, eager_jobs):
    team = deployed(admin_client, project_dir)

    form_page = act(admin_client, "broadcast", team)
    assert "Send a message to teams" in form_page.content.decode()
    act(admin_client, "broadcast", team, apply="1", message="echo hello-qa", agent_types=["qa"])
    assert list(Message.objects.filter(body="echo hello-qa").values_list("agent__name", flat=True)) == ["Shell-qa"]

    response = act(admin_client, "standup", team, apply="1", timeout_seconds=60, include_idle_agents="on")
    standup = Standup.objects.get()
    assert f"standup #{standup.pk}" in " ".join(messages_of(response))
    page = admin_client.get(reverse("admin:teams_standup_change", args=[standup.pk])).content.decode()
    assert all(f"shop:Shell-{role}" in page for role in ("pm", "developer", "qa"))  # each reply, inline
    assert standup.replies.count() == 3

    act(admin_client, "teardown", team)
    assert gateway.list_panes() == []
    assert Team.objects.get().torn_down_at is not None


def test_tasks_are_filtered_searched_and_moved_in_bulk(admin_client, project_dir, gateway, eager_jobs):
    agent = agent_spawn(session_name="dlv", agent_type="developer", project_path=project_dir, profile="shell").agent
    response = admin_client.post(reverse("admin:tasks_task_add"), {
        "title": "Fix the cart", "description": "", "priority": "high", "completion_criteria": "[]",
        "checks": "[]", "tag_names": "cart, ui", "estimated_hours": "", "project_path": "",
    })
    assert response.status_code == 302, response.content.decode()[-3000:]
    first = Task.objects.get(title="Fix the cart")
    assert sorted(t.name for t in first.tags.all()) == ["cart", "ui"] and first.events.count() == 1
    from tasks.services import task_assign, task_create
    second = task_create(title="Write the docs", priority="low")
    task_assign(task=first, agent=agent)

    changelist = reverse("admin:tasks_task_changelist")
    for query, expected in [({"status__exact": "assigned"}, ["Fix the cart"]),
                            ({"priority__exact": "low"}, ["Write the docs"]),
                            ({"assigned_to__id__exact": agent.pk}, ["Fix the cart"]),
                            ({"tags__id__exact": first.tags.get(name="ui").pk}, ["Fix the cart"]),
                            ({"q": "docs"}, ["Write the docs"])]:
        page = admin_client.get(changelist, query)
        assert [t.title for t in page.context["cl"].result_list] == expected, query

    response = act(admin_client, "move_to_in_progress", first, second, model="tasks/task")

    assert Task.objects.get(pk=first.pk).status == "in_progress"
    assert Task.objects.get(pk=second.pk).status == "pending"
    assert f"#{second.pk}: task #{second.pk} is pending; it can move to" in " ".join(messages_of(response))


def test_a_scheduled_message_is_seen_and_cancelled_in_the_admin(admin_client, project_dir, eager_jobs, gateway):
    agent = agent_spawn(session_name="dlv", agent_type="developer", project_path=project_dir, profile="shell").agent
    message = message_schedule(agent=agent, body="check the build", minutes=20)

    listed = admin_client.get(reverse("admin:agents_message_changelist"), {"status__exact": "scheduled"})
    assert [m.pk for m in listed.context["cl"].result_list] == [message.pk]

    act(admin_client, "cancel", message, model="agents/message")

    assert Message.objects.get(pk=message.pk).status == MessageStatus.CANCELLED
