"""The dashboard's pages, as a browser gets them (Django's test client): who may see them,
what they show, and that what they do goes through the declared operations."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from agents.hosts import host_seen, stale_after
from agents.models import Agent, AgentEvent, AgentState, Host, Message
from dashboard.login import login_link, user_of_link
from monitoring.models import PaneScreen
from tasks.models import Task, TaskStatus
from teams.models import Team

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script> & \"quotes\" $(touch /tmp/x) #{pane_id}"


@pytest.fixture
def person(client):
    user = get_user_model().objects.create_user("ana", password="a-long-password-1", is_staff=True)
    client.force_login(user)
    return user


def make(name, session, state, team=None, **fields):
    return Agent.objects.create(name=name, session_name=session, agent_type="developer", profile="shell",
                                project_path="/tmp", host="test-host", state=state, team=team, **fields)


@pytest.fixture
def fleet():
    shop = Team.objects.create(name="shop", project_path="/tmp")
    blog = Team.objects.create(name="blog", project_path="/tmp")
    agents = {
        "shop-dev": make("dev", "shop", AgentState.IDLE, shop),
        "shop-qa": make("qa", "shop", AgentState.WORKING, shop),
        "blog-dev": make("dev", "blog", AgentState.IDLE, blog),
        "blog-pm": make("pm", "blog", AgentState.WAITING_APPROVAL, blog),
        "solo": make("solo", "scratch", AgentState.CRASHED, restart_count=3),
        "gone": make("gone", "scratch", AgentState.STOPPED),
    }
    Task.objects.create(title="Add the login form", status=TaskStatus.IN_PROGRESS, assigned_to=agents["shop-qa"])
    return agents


def test_a_stranger_is_sent_to_log_in(client):
    response = client.get("/")

    assert response.status_code == 302 and response["Location"].startswith("/login?next=/")


def test_an_account_that_is_not_staff_cannot_log_in(client):
    get_user_model().objects.create_user("viewer", password="a-long-password-1")

    response = client.post("/login", {"username": "viewer", "password": "a-long-password-1"})

    assert response.status_code == 200 and "not match a staff account" in response.content.decode()
    assert client.get("/").status_code == 302


def test_a_staff_member_logs_in_with_a_password(client):
    get_user_model().objects.create_user("ana", password="a-long-password-1", is_staff=True)

    response = client.post("/login", {"username": "ana", "password": "a-long-password-1"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_the_banners_link_logs_the_local_user_in_once(client):
    link = login_link("http://127.0.0.1:8000")
    path = re.sub(r"^http://[^/]+", "", link)

    first = client.get(path)
    home = client.get("/")
    client.logout()
    again = client.get(path)

    assert first.status_code == 302 and first["Location"] == "/"
    assert home.status_code == 200
    assert again.status_code == 403 and "used already or is too old" in again.content.decode()


def test_a_link_with_a_forged_token_or_user_logs_nobody_in(client):
    link = login_link("http://127.0.0.1:8000")
    uid, token = link.rsplit("/", 2)[-2:]

    assert user_of_link(uid, token[:-2] + "xx") is None
    assert user_of_link("bm90LWEtbnVtYmVy", token) is None  # "not-a-number"
    assert client.get(f"/login/once/{uid}/garbage").status_code == 403


def test_the_overview_groups_by_team_the_most_urgent_first(client, person, fleet):
    page = client.get("/").content.decode()

    groups = re.findall(r'<section class="group" data-group="([^"]+)" data-state="([^"]+)"', page)
    assert groups == [("blog", "waiting_approval"), ("scratch", "crashed"), ("shop", "working")]
    assert "gone" not in re.findall(r'data-name="([^"]+)"', page)  # stopped agents are not shown
    blog = page[page.index('data-group="blog"'):page.index('data-group="scratch"')]
    assert blog.index('data-name="pm"') < blog.index('data-name="dev"')  # within a team, too
    assert "waiting for approval" in page  # a word beside each colour


def test_the_overview_counts_agents_by_state(client, person, fleet):
    page = client.get("/").content.decode()

    counts = dict((state, int(n)) for state, n in re.findall(
        r'data-count="(\w+)"><span class="n">(\d+)</span>', page))
    assert counts == {"waiting_approval": 1, "failed": 0, "crashed": 1, "stuck": 0, "starting": 0,
                      "working": 1, "idle": 2}


def test_a_card_shows_the_task_health_and_restarts(client, person, fleet):
    AgentEvent.objects.create(agent=fleet["solo"], from_state="idle", to_state="crashed", signal="process",
                              created_at=timezone.now())
    AgentEvent.objects.create(agent=fleet["shop-qa"], from_state="idle", to_state="crashed", signal="process",
                              created_at=timezone.now())  # once today: 10 points off its health

    cards = client.get(f"/dashboard/cards?ids={fleet['shop-qa'].pk},{fleet['solo'].pk}").content.decode()

    qa = cards[cards.index(f'id="agent-{fleet["shop-qa"].pk}"'):cards.index(f'id="agent-{fleet["solo"].pk}"')]
    solo = cards[cards.index(f'id="agent-{fleet["solo"].pk}"'):]
    assert "Add the login form" in qa and "(In Progress)" in qa and 'value="90"' in qa
    assert 'value="0"' in solo and "<dt>Restarts</dt><dd>3</dd>" in solo


def test_a_card_says_when_its_host_is_down(client, person, fleet):
    host_seen("test-host")
    up = client.get(f"/dashboard/cards?ids={fleet['shop-dev'].pk}").content.decode()
    Host.objects.filter(name="test-host").update(worker_seen_at=timezone.now() - stale_after() - timedelta(seconds=1))
    down = client.get(f"/dashboard/cards?ids={fleet['shop-dev'].pk}").content.decode()

    assert "is down" not in up
    assert "<strong>Host test-host is down</strong>" in down and 'data-state="idle"' in down  # its last state


def test_cards_of_ids_that_do_not_exist_are_left_out(client, person, fleet):
    response = client.get("/dashboard/cards?ids=999999,abc,,1e9")

    assert response.status_code == 200 and "card" not in response.content.decode()


def test_the_agent_page_shows_its_screen_in_colour_and_escaped(client, person, fleet):
    agent = fleet["shop-dev"]
    PaneScreen.objects.create(agent=agent, text="red " + HOSTILE, ansi="\x1b[31mred\x1b[0m " + HOSTILE,
                              changed_at=timezone.now(), wanted_until=timezone.now())

    page = client.get(f"/dashboard/agents/{agent.pk}").content.decode()
    screen = client.get(f"/dashboard/agents/{agent.pk}/screen").content.decode()

    assert '<span class="ansi31">red</span>' in screen
    assert "<script>alert" not in screen and "&lt;script&gt;alert(1)&lt;/script&gt;" in screen
    assert screen in page


def test_the_agent_page_lists_its_messages_with_their_status_and_reply(client, person, fleet):
    agent = fleet["shop-dev"]
    Message.objects.create(agent=agent, body=HOSTILE, status="delivered", reply="done: 3 files")

    page = client.get(f"/dashboard/agents/{agent.pk}").content.decode()

    assert 'data-status="delivered"' in page and "done: 3 files" in page
    assert "<script>alert" not in page


def test_a_message_sent_from_the_page_is_the_operations(client, person, fleet):
    agent = fleet["shop-dev"]

    response = client.post(f"/dashboard/agents/{agent.pk}/send", {"message": "  keep  spaces\n", "urgent": "on"},
                           headers={"HX-Request": "true"})

    message = Message.objects.get(agent=agent)
    assert response.status_code == 200 and f"Message #{message.pk}" in response.content.decode()
    assert (message.body, message.urgent, message.sender) == ("  keep  spaces\n", True, "dashboard:ana")


def test_an_empty_message_is_refused_with_the_apis_words_and_nothing_is_queued(client, person, fleet):
    response = client.post(f"/dashboard/agents/{fleet['shop-dev'].pk}/send", {"message": ""},
                           headers={"HX-Request": "true"})

    assert response.status_code == 400 and "message:" in response.content.decode()
    assert not Message.objects.exists()


def test_an_answer_no_worker_took_says_it_is_not_confirmed(client, person, fleet, monkeypatch):
    import agents.operations

    monkeypatch.setattr(agents.operations, "wait_timeout", lambda agent_type: 0)

    response = client.post(f"/dashboard/agents/{fleet['blog-pm'].pk}/approve", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Approval sent, not confirmed yet: approve of blog:pm" in response.content.decode()


def test_an_answer_to_a_stopped_agent_is_refused_with_the_apis_words(client, person, fleet):
    response = client.post(f"/dashboard/agents/{fleet['gone'].pk}/deny", headers={"HX-Request": "true"})

    assert response.status_code == 400 and 'role="alert"' in response.content.decode()


def test_a_post_without_the_csrf_token_is_refused(person, fleet):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person)

    response = browser.post(f"/dashboard/agents/{fleet['shop-dev'].pk}/send", {"message": "hi"})

    assert response.status_code == 403 and not Message.objects.exists()


def test_a_page_of_no_agent_is_not_found(client, person):
    assert client.get("/dashboard/agents/424242").status_code == 404
    assert client.post("/dashboard/agents/424242/approve").status_code == 404


# --- needs you, tasks, teams --------------------------------------------------------------


def test_needs_you_lists_prompts_to_answer_agents_down_failed_deliveries_and_alerts(client, person, fleet):
    from monitoring.models import Alert

    pm = fleet["blog-pm"]
    pm.observation = {"lines": ["Bash command", "rm -rf build/", "Do you want to proceed?", "❯ 1. Yes", "  2. No"]}
    pm.save(update_fields=["observation"])
    Message.objects.create(agent=fleet["shop-dev"], body="lost", status="failed", error="the pane is gone")
    Alert.objects.create(agent=fleet["solo"], kind="crashed", text="solo crashed three times")

    page = client.get("/dashboard/needs-you").content.decode()

    waiting = page[page.index('id="waiting-h"'):page.index('id="down-h"')]
    assert "blog:pm" in waiting and "Do you want to proceed?" in waiting
    assert f"/dashboard/agents/{pm.pk}/approve" in waiting and f"/dashboard/agents/{pm.pk}/deny" in waiting
    down = page[page.index('id="down-h"'):page.index('id="failed-h"')]
    assert "scratch:solo" in down and f"/dashboard/agents/{fleet['solo'].pk}/restart" in down
    assert "the pane is gone" in page and "solo crashed three times" in page


def test_needs_you_asked_by_htmx_is_the_list_alone(client, person, fleet):
    page = client.get("/dashboard/needs-you", headers={"HX-Request": "true"}).content.decode()

    assert "<html" not in page and 'id="waiting-h"' in page


def test_the_task_board_has_a_column_per_status_with_its_moves(client, person, fleet):
    task = Task.objects.create(title="Fix the cart", priority="high", status=TaskStatus.ASSIGNED,
                               assigned_to=fleet["shop-dev"])

    page = client.get("/dashboard/tasks").content.decode()

    assert re.findall(r'data-column="(\w+)"', page) == ["pending", "assigned", "in_progress", "review", "blocked",
                                                         "done", "cancelled"]
    card = page[page.index(f'id="task-{task.pk}"'):]
    card = card[:card.index("</li>")]
    assert "High priority" in card and "shop:dev" in card
    assert re.findall(r'<option value="(\w+)"', card) == ["pending", "in_progress", "blocked", "cancelled"]


def test_moving_a_card_is_the_apis_move_with_its_rules(client, person, fleet):
    task = Task.objects.create(title="Fix the cart", status=TaskStatus.ASSIGNED, assigned_to=fleet["shop-dev"])
    htmx = {"HX-Request": "true"}

    moved = client.post(f"/dashboard/tasks/{task.pk}/move", {"status": "in_progress"}, headers=htmx)
    refused = client.post(f"/dashboard/tasks/{task.pk}/move", {"status": "pending"}, headers=htmx)

    task.refresh_from_db()
    assert moved.status_code == 200 and f"Task #{task.pk} is in_progress" in moved.content.decode()
    assert refused.status_code == 400 and 'role="alert"' in refused.content.decode()
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.events.last().by == "dashboard:ana"


def test_a_move_without_javascript_comes_back_to_the_board_with_a_message(client, person, fleet):
    task = Task.objects.create(title="Fix the cart", status=TaskStatus.PENDING)

    response = client.post(f"/dashboard/tasks/{task.pk}/move", {"status": "nowhere"}, follow=True)

    assert response.redirect_chain[-1][0] == "/dashboard/tasks"
    assert "status:" in response.content.decode()


def test_the_teams_page_lists_teams_their_members_and_the_templates(client, person, fleet):
    page = client.get("/dashboard/teams").content.decode()

    assert "shop" in page and "blog" in page and 'value="frontend"' in page
    assert "/dashboard/teams/shop/standup" in page and "/dashboard/teams/shop/teardown" in page


def test_a_deploy_the_api_refuses_says_why_and_makes_nothing(client, person):
    response = client.post("/dashboard/teams/deploy", {"project_name": "new", "project_path": "/no/such/dir",
                                                       "team_type": "frontend", "size": "2"},
                           headers={"HX-Request": "true"})

    assert response.status_code == 400 and "project_path" in response.content.decode()
    assert not Team.objects.filter(name="new").exists() and not Agent.objects.filter(session_name="new").exists()


def test_a_standup_from_the_page_opens_its_replies(client, person, fleet, monkeypatch):
    response = client.post("/dashboard/teams/shop/standup", headers={"HX-Request": "true"})

    standup_url = response["HX-Redirect"]
    page = client.get(standup_url).content.decode()
    assert response.status_code == 204 and re.fullmatch(r"/dashboard/standups/\d+", standup_url)
    assert "shop:dev" in page and "shop:qa" in page and "no answer yet" in page
    assert 'hx-trigger="every 2s"' in page  # it follows the replies while it collects


def test_a_card_draws_the_last_hour_of_states(client, person, fleet):
    from datetime import timedelta

    agent = fleet["shop-dev"]
    Agent.objects.filter(pk=agent.pk).update(created_at=timezone.now() - timedelta(hours=2))
    AgentEvent.objects.create(agent=agent, from_state="idle", to_state="working", signal="screen",
                              created_at=timezone.now() - timedelta(minutes=30))
    AgentEvent.objects.create(agent=agent, from_state="working", to_state="idle", signal="screen",
                              created_at=timezone.now() - timedelta(minutes=10))

    card = client.get(f"/dashboard/cards?ids={agent.pk}").content.decode()

    assert 'aria-label="last hour: idle 40m, working 20m"' in card
    rects = re.findall(r'<rect class="fill-(\w+)" x="([\d.]+)" y="0" width="([\d.]+)"', card)
    assert [state for state, _, _ in rects] == ["idle", "working", "idle"]
    assert abs(sum(float(width) for _, _, width in rects) - 100) < 0.1


def test_the_system_page_draws_delivery_latency_and_each_hosts_sweep_and_watcher(client, person, fleet):
    from datetime import timedelta

    from monitoring.models import Heartbeat
    from monitoring.services import watcher_heartbeat

    now = timezone.now()
    for seconds in (0.2, 0.3, 0.8, 4):
        message = Message.objects.create(agent=fleet["shop-dev"], body="x", status="delivered")
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(seconds=seconds), delivered_at=now)
    Heartbeat.objects.create(name="worker:laptop", seen_at=now, details={"sweep_ms": 12, "recent_sweep_ms": [10, 30, 12]})
    watcher_heartbeat(host="laptop", cpu_percent=1.5, panes=3)
    watcher_heartbeat(host="laptop", cpu_percent=0.5, panes=3)

    page = client.get("/dashboard/system").content.decode()

    counts = re.findall(r"<td>(\d+)</td>", page[page.index('id="latency-words"'):])
    assert counts[:4] == ["2", "1", "0", "1"] and sum(map(int, counts)) == 4
    assert "4 delivered" in page
    assert "last 12.0 ms, longest of the last 3 30.0 ms" in page
    assert "0.5% of a core, at most 1.5% over the last 2 records" in page
    assert page.count("<polyline") == 2


@pytest.mark.parametrize("path", ["/dashboard/agents/99999999999999999999999999", "/dashboard/standups/99999999999999999999999",
                                  "/dashboard/agents/99999999999999999999999999/screen"])
def test_an_id_past_any_row_is_not_found(client, person, path):
    assert client.get(path).status_code == 404


def test_a_move_of_an_id_past_any_row_is_refused_cleanly(client, person):
    response = client.post("/dashboard/tasks/99999999999999999999999/move", {"status": "done"},
                           headers={"HX-Request": "true"})

    assert response.status_code == 400 and 'role="alert"' in response.content.decode()


def test_a_team_torn_down_from_the_page_is_the_operations(client, person, fleet, monkeypatch):
    import agents.selectors

    monkeypatch.setattr(agents.selectors, "wait_timeout", lambda agent_type: 0)  # no worker here to wait for

    response = client.post("/dashboard/teams/shop/teardown", headers={"HX-Request": "true"})
    unknown = client.post("/dashboard/teams/no-such-team/teardown", headers={"HX-Request": "true"})

    assert response.status_code == 200 and "Team shop torn down." in response.content.decode()
    assert Team.objects.get(name="shop").torn_down_at is not None
    assert unknown.status_code == 400 and 'role="alert"' in unknown.content.decode()


def test_htmx_is_told_to_show_refusals(client, person):
    page = client.get("/").content.decode()

    assert '"code": "[234]..", "swap": true' in page


def test_an_htmx_request_after_the_session_ended_sends_the_page_to_log_in(client, fleet):
    response = client.post(f"/dashboard/agents/{fleet['shop-dev'].pk}/send", {"message": "hi"},
                           headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/dashboard/agents/1"})

    assert response.status_code == 204 and response["HX-Redirect"] == "/login?next=%2Fdashboard%2Fagents%2F1"
    assert not Message.objects.exists()


def test_a_message_sent_without_javascript_comes_back_to_the_agents_page(client, person, fleet):
    agent = fleet["shop-dev"]

    response = client.post(f"/dashboard/agents/{agent.pk}/send", {"message": "hello"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/dashboard/agents/{agent.pk}"
    assert "Message #" in response.content.decode() and Message.objects.get().body == "hello"


def test_the_agent_page_shows_no_message_as_a_banner(client, person, fleet):
    Message.objects.create(agent=fleet["shop-dev"], body="quiet", status="queued")

    page = client.get(f"/dashboard/agents/{fleet['shop-dev'].pk}").content.decode()

    assert 'class="said"' not in page


def test_a_screen_link_is_shown_as_its_text_only(client, person, fleet):
    agent = fleet["shop-dev"]
    PaneScreen.objects.create(agent=agent, ansi="\x1b]8;;https://evil.example/\x1b\\Approve here\x1b]8;;\x1b\\",
                              changed_at=timezone.now(), wanted_until=timezone.now())

    screen = client.get(f"/dashboard/agents/{agent.pk}/screen").content.decode()

    assert "Approve here" in screen and "evil.example" not in screen and "<a" not in screen


def test_a_missing_agent_is_a_page_not_json(client, person):
    response = client.get("/dashboard/agents/424242")

    assert response.status_code == 404 and "No agent #424242." in response.content.decode()
    assert response["Content-Type"].startswith("text/html")
