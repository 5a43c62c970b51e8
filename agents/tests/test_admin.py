"""Agents (and API tokens) in the admin: the same services as the API and the CLI."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from agents import services
from agents.models import Agent, AgentOperation, AgentState, OperationStatus
from conftest import wait_for
from orchestrator.models import ApiToken, token_digest

CHANGELIST = "admin:agents_agent_changelist"
ADD = "admin:agents_agent_add"
lifecycle = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "secret-password")
    client.force_login(user)
    return client


def make_agent(**fields) -> Agent:
    values = {
        "name": "Shell-developer", "session_name": "alpha", "agent_type": "developer", "profile": "shell",
        "project_path": "/srv/alpha", "host": "test-host", "state": AgentState.IDLE, **fields,
    }
    return Agent.objects.create(**values)


def spawned(project_dir: str) -> Agent:
    """A real agent in the private tmux server, its spawn finished."""
    operation = services.agent_spawn(session_name="alpha", agent_type="developer", project_path=project_dir,
                                     profile="shell")
    wait_for(lambda: AgentOperation.objects.get(pk=operation.pk).status == OperationStatus.SUCCEEDED,
             message="the spawn to succeed")
    return Agent.objects.get(pk=operation.agent.pk)


def pane(gateway, pane_id: str):
    return next((p for p in gateway.list_panes() if p.pane_id == pane_id), None)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def action(client, name: str, *agents: Agent):
    data = {"action": name, "_selected_action": [a.pk for a in agents]}
    return client.post(reverse(CHANGELIST), data, follow=True)


def offered_actions(client) -> set[str]:
    action_form = client.get(reverse(CHANGELIST)).context["action_form"]
    return {name for name, _ in action_form.fields["action"].choices} if action_form else set()


def staff_with(client, django_user_model, *codenames: str):
    user = django_user_model.objects.create_user("staff", password="secret-password", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


# --- the changelist ----------------------------------------------------------------------


@pytest.mark.django_db
def test_changelist_lists_an_agent_with_its_state(admin_client):
    make_agent(state=AgentState.WAITING_APPROVAL)

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert [a.target for a in response.context["cl"].result_list] == ["alpha:Shell-developer"]
    assert "alpha:Shell-developer" in response.content.decode()
    assert "Waiting Approval" in response.content.decode()


@pytest.mark.django_db
def test_changelist_filters_by_state(admin_client):
    make_agent(session_name="alpha", state=AgentState.CRASHED)
    make_agent(session_name="beta", state=AgentState.IDLE)

    response = admin_client.get(reverse(CHANGELIST), {"state__exact": "crashed"})

    assert response.status_code == 200
    assert [a.target for a in response.context["cl"].result_list] == ["alpha:Shell-developer"]
    assert "beta:Shell-developer" not in response.content.decode()


@pytest.mark.django_db
def test_changelist_searches_session_and_project_path(admin_client):
    make_agent(session_name="alpha", project_path="/srv/payments")
    make_agent(session_name="beta", project_path="/srv/search")

    by_path = admin_client.get(reverse(CHANGELIST), {"q": "payments"})
    by_session = admin_client.get(reverse(CHANGELIST), {"q": "beta"})

    assert [a.target for a in by_path.context["cl"].result_list] == ["alpha:Shell-developer"]
    assert [a.target for a in by_session.context["cl"].result_list] == ["beta:Shell-developer"]


# --- spawning ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_add_page_shows_the_spawn_form(admin_client):
    response = admin_client.get(reverse(ADD))

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields) == ["session_name", "agent_type", "profile", "project_path", "name", "briefing", "host"]
    assert [value for value, _ in form.fields["host"].choices] == ["", "auto", settings.TMUX_ORC.agent_host]
    assert ("shell", "shell") in form.fields["profile"].choices
    assert ("developer", "developer") in form.fields["agent_type"].choices
    assert 'value="Spawn"' in response.content.decode()


@lifecycle
def test_posting_the_spawn_form_spawns_a_window_and_shows_the_agent(admin_client, eager_jobs, gateway, project_dir):
    form = {"session_name": "alpha", "agent_type": "developer", "profile": "shell", "project_path": project_dir,
            "name": "", "briefing": ""}

    response = admin_client.post(reverse(ADD), form)

    agent = Agent.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:agents_agent_change", args=[agent.pk])
    created = wait_for(lambda: pane(gateway, Agent.objects.get(pk=agent.pk).tmux_pane_id),
                       message="the agent's window")
    assert (created.session_name, created.window_name) == ("alpha", "Shell-developer")
    assert agent.operations.get().requested_by == "admin:root"
    assert admin_client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_spawn_form_with_a_missing_project_path_shows_an_error_and_creates_nothing(admin_client, tmp_path):
    form = {"session_name": "alpha", "agent_type": "developer", "profile": "shell",
            "project_path": str(tmp_path / "absent")}

    response = admin_client.post(reverse(ADD), form)

    assert response.status_code == 200
    errors = response.context["form"].errors["project_path"]
    assert any("does not exist" in e for e in errors)  # next to the field it is about
    assert "Please correct the error below." in response.content.decode()
    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_spawn_form_needs_the_add_permission(client, django_user_model, project_dir):
    viewer = staff_with(client, django_user_model, "view_agent")
    form = {"session_name": "alpha", "agent_type": "developer", "profile": "shell", "project_path": project_dir}

    assert viewer.get(reverse(ADD)).status_code == 403
    assert viewer.post(reverse(ADD), form).status_code == 403
    assert not Agent.objects.exists()


# --- actions -----------------------------------------------------------------------------


@lifecycle
def test_kill_action_removes_the_window_and_stops_the_agent(admin_client, eager_jobs, gateway, project_dir):
    agent = spawned(project_dir)
    assert pane(gateway, agent.tmux_pane_id) is not None

    response = action(admin_client, "kill", agent)

    assert response.status_code == 200
    assert "Kill requested for 1 agent(s)." in messages_of(response)
    wait_for(lambda: pane(gateway, agent.tmux_pane_id) is None, message="the window to go")
    agent.refresh_from_db()
    assert agent.state == AgentState.STOPPED
    assert agent.operations.filter(kind="kill", requested_by="admin:root").exists()


@lifecycle
def test_restart_action_starts_a_new_program_in_the_same_pane(admin_client, eager_jobs, gateway, project_dir):
    agent = spawned(project_dir)
    before = pane(gateway, agent.tmux_pane_id)

    response = action(admin_client, "restart", agent)

    assert "Restart requested for 1 agent(s)." in messages_of(response)
    after = wait_for(lambda: (p := pane(gateway, agent.tmux_pane_id)) and p.pid != before.pid and p,
                     message="a new program in the pane")
    agent.refresh_from_db()
    assert agent.pane_pid == after.pid
    assert agent.restart_count == 1


@pytest.mark.django_db
def test_an_action_on_a_stopped_agent_reports_the_error(admin_client):
    agent = make_agent(state=AgentState.STOPPED)

    response = action(admin_client, "kill", agent)

    assert "Not done: alpha:Shell-developer is already stopped" in messages_of(response)
    assert not agent.operations.exists()


# --- API tokens --------------------------------------------------------------------------


@pytest.mark.django_db
def test_adding_a_token_shows_it_once_and_stores_only_its_digest(admin_client):
    response = admin_client.post(reverse("admin:orchestrator_apitoken_add"), {"name": "ci"}, follow=True)

    assert response.status_code == 200
    shown = [m for m in messages_of(response) if m.startswith("Token 'ci': ")]
    assert len(shown) == 1
    raw = shown[0].removeprefix("Token 'ci': ").split()[0]
    token = ApiToken.objects.get()
    assert token.name == "ci"
    assert token.digest == token_digest(raw)
    assert raw not in (token.name, token.digest, token.prefix)
    assert token.prefix == raw[:10]

    again = admin_client.get(reverse("admin:orchestrator_apitoken_change", args=[token.pk]))
    assert raw not in again.content.decode()


@pytest.mark.django_db
def test_restart_and_kill_actions_need_more_than_the_view_permission(client, django_user_model):
    viewer = staff_with(client, django_user_model, "view_agent")
    agent = make_agent()

    offered = offered_actions(viewer)
    response = action(viewer, "kill", agent)

    assert {"restart", "kill"}.isdisjoint(offered)
    assert response.status_code == 200
    assert not agent.operations.exists()


@pytest.mark.django_db
def test_restart_and_kill_actions_are_offered_with_the_change_permission(client, django_user_model):
    operator = staff_with(client, django_user_model, "view_agent", "change_agent")

    assert {"restart", "kill"} <= offered_actions(operator)


@pytest.mark.django_db
def test_spawn_form_offers_the_configured_default_profile(admin_client, settings, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "default_profile", "shell")
    form = admin_client.get(reverse(ADD)).context["form"]
    assert form["profile"].value() == "shell" and form["agent_type"].value() == "developer"


@pytest.mark.django_db
def test_searching_for_a_target_finds_that_agent(admin_client):
    make_agent(session_name="demo", name="Shell-qa")
    make_agent(session_name="demo", name="Shell-developer")
    response = admin_client.get(reverse(CHANGELIST), {"q": "demo:Shell-qa"})
    assert [a.target for a in response.context["cl"].result_list] == ["demo:Shell-qa"]


@pytest.mark.django_db
def test_send_message_action_asks_for_the_text_then_queues_it(admin_client):
    from agents.models import Message

    agent = make_agent()
    form_page = action(admin_client, "send_message", agent)
    assert form_page.status_code == 200 and "Send a message" in form_page.content.decode()
    assert not Message.objects.exists()

    data = {"action": "send_message", "_selected_action": [agent.pk], "apply": "1",
            "message": "  keep my spaces;\n", "urgent": "on"}
    done = admin_client.post(reverse(CHANGELIST), data, follow=True)

    message = Message.objects.get()
    assert message.body == "  keep my spaces;\n" and message.urgent and message.sender.startswith("admin:")
    assert "Message queued for 1 agent(s)" in " ".join(messages_of(done))
    detail = admin_client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "keep my spaces;" in detail  # the history, on the agent's page
