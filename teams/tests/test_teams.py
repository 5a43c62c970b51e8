"""Teams on real tmux: deploy, brief, broadcast, tear down."""

import subprocess

import pytest
from django.conf import settings

from agents.models import Agent, AgentState, Message, MessageKind, MessageStatus
from conftest import prompt_shown, wait_for
from monitoring.services import host_sweep
from teams.models import Team

pytestmark = pytest.mark.django_db(transaction=True)

SEED_MEMBERS = [
    {"role": "pm", "briefing": "Lead the frontend development team", "skills": ["Project Management", "Agile"],
     "profile": "shell"},
    {"role": "developer", "briefing": "Focus on React components and state management",
     "skills": ["React", "Redux", "TypeScript"], "profile": "shell"},
    {"role": "qa", "briefing": "Test every flow in the browser", "skills": ["Playwright"], "profile": "shell"},
]


def deploy(api, project_dir, name="shop", members=SEED_MEMBERS, **extra):
    payload = {"project_name": name, "project_path": project_dir, "team_members": members,
               "coordination_strategy": "hub_and_spoke", **extra}
    return api.post("/coordination/deploy-team", payload, format="json")


def windows(gateway, session):
    return sorted(p.window_name for p in gateway.list_panes() if p.session_name == session)


def briefed(gateway, agents):
    """Sweep until every agent's briefing is delivered and its shell is back at its prompt."""
    def done():
        host_sweep(host=settings.TMUX_ORC.agent_host)
        fresh = [Agent.objects.get(pk=a.pk) for a in agents]
        return all(a.messages.get(kind=MessageKind.BRIEFING).status == MessageStatus.DELIVERED
                   and prompt_shown(gateway, a) for a in fresh)

    wait_for(done, timeout=30, message="every briefing delivered")


def history(gateway, agent) -> str:
    return gateway.capture_panes([agent.tmux_pane_id], history=500)[agent.tmux_pane_id]


def test_a_team_of_three_is_deployed_and_each_member_briefed_once(api, project_dir, gateway, eager_jobs):
    response = deploy(api, project_dir)

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    targets = ["shop:Shell-pm", "shop:Shell-developer", "shop:Shell-qa"]
    assert [m["target"] for m in data["team"]["members"]] == targets
    assert [s["operation"]["status"] for s in data["started"]] == ["succeeded"] * 3
    assert windows(gateway, "shop") == ["Shell-developer", "Shell-pm", "Shell-qa"]
    team = Team.objects.get(name="shop")
    agents = list(team.agents.order_by("created_at"))
    assert [a.skills for a in agents] == [m["skills"] for m in SEED_MEMBERS]
    briefed(gateway, agents)
    for agent in agents:
        briefing = agent.messages.get(kind=MessageKind.BRIEFING)  # exactly one
        assert history(gateway, agent).count(f"You are {agent.target} in team shop") == 1
        assert all(target in briefing.body for target in targets)
    pm, developer, _ = agents
    assert pm.messages.get().body.startswith("Lead the frontend development team")
    assert "You lead this team." in pm.messages.get().body
    assert "Report to your PM, shop:Shell-pm" in developer.messages.get().body
    assert f'"target": "{pm.target}"' in developer.messages.get().body and "$TMUX_ORC_TOKEN" in developer.messages.get().body


def test_a_deploy_that_fails_part_way_leaves_no_half_team(api, project_dir, gateway, eager_jobs, monkeypatch):
    profiles = {**settings.TMUX_ORC.profiles, "ghost": {"command": "no-such-agent-program-here"}}
    monkeypatch.setattr(settings.TMUX_ORC, "profiles", profiles)
    members = [*SEED_MEMBERS[:2], {"role": "qa", "profile": "ghost"}]

    response = deploy(api, project_dir, members=members)

    assert response.status_code == 422, response.content
    error = response.json()["error_message"]
    assert "'no-such-agent-program-here' (profile ghost) is not installed" in error
    assert "It was taken down again; no member of it is left" in error
    assert windows(gateway, "shop") == []
    assert not Agent.objects.exclude(state=AgentState.STOPPED).exists()
    assert Team.objects.get(name="shop").torn_down_at is not None
    assert deploy(api, project_dir, members=SEED_MEMBERS[:1]).status_code == 201  # the name is free again


def test_bad_deploys_are_refused_before_anything_starts(api, project_dir, gateway, eager_jobs):
    cases = [
        ({"isolation": "worktree"}, 400, "is not a git repository"),
        ({"members": [{"role": "wizard"}]}, 400, "team_members[0].role: unknown agent type 'wizard'"),
        ({"name": "bad:name"}, 400, "project_name"),
        ({"members": []}, 400, "a team has 1 to 20 members"),
    ]
    for extra, code, text in cases:
        response = deploy(api, project_dir, **extra)
        assert response.status_code == code, (extra, response.content)
        assert text in str(response.json()), (extra, response.json())
    assert not Team.objects.exists() and not Agent.objects.exists()
    assert windows(gateway, "shop") == []


def test_a_second_deploy_of_the_same_name_is_a_conflict(api, project_dir, eager_jobs, gateway):
    assert deploy(api, project_dir, members=SEED_MEMBERS[:1]).status_code == 201
    response = deploy(api, project_dir, members=SEED_MEMBERS[:1])
    assert response.status_code == 409
    assert response.json()["error_message"].startswith("team shop is already deployed")


def test_broadcast_reaches_only_the_agent_types_chosen(api, project_dir, gateway, eager_jobs):
    assert deploy(api, project_dir).status_code == 201
    agents = list(Team.objects.get(name="shop").agents.order_by("created_at"))
    briefed(gateway, agents)

    response = api.post("/teams/shop/broadcast", {"message": "echo sprint-planning", "agent_types_only": ["qa", "pm"]},
                        format="json")

    assert response.status_code == 201, response.content
    assert sorted(m["target"] for m in response.json()["data"]) == ["shop:Shell-pm", "shop:Shell-qa"]
    got = {a.name: list(a.messages.filter(body="echo sprint-planning").values_list("status", flat=True))
           for a in agents}
    assert got == {"Shell-pm": ["delivered"], "Shell-developer": [], "Shell-qa": ["delivered"]}
    assert "sprint-planning" not in history(gateway, agents[1])


def test_teardown_leaves_no_window_behind(api, project_dir, gateway, eager_jobs):
    assert deploy(api, project_dir).status_code == 201

    response = api.post("/teams/shop/teardown")

    assert response.status_code == 200, response.content
    assert [k["operation"]["status"] for k in response.json()["data"]] == ["succeeded"] * 3
    assert windows(gateway, "shop") == []
    assert set(Agent.objects.values_list("state", flat=True)) == {AgentState.STOPPED}
    assert api.get("/teams/shop").status_code == 404
    assert api.post("/teams/shop/teardown").status_code == 404


def test_team_status_shows_members_and_tasks(api, project_dir, gateway, eager_jobs):
    assert deploy(api, project_dir).status_code == 201
    api.post("/tasks/create", {"title": "Checkout page", "assigned_to": "shop:Shell-developer"}, format="json")

    data = api.get("/teams/shop").json()["data"]

    assert data["team"]["coordination_strategy"] == "hub_and_spoke"
    assert len(data["team"]["members"]) == 3 and sum(data["agents_by_state"].values()) == 3
    assert data["tasks_by_status"] == {"assigned": 1}
    assert [t["name"] for t in api.get("/teams/list").json()["data"]] == ["shop"]


def git(path, *args):
    subprocess.run(["git", "-C", path, *args], check=True, capture_output=True)


def test_worktree_isolation_gives_each_engineer_a_branch_and_teardown_keeps_it(api, project_dir, gateway,
                                                                                eager_jobs):
    git(project_dir, "init", "-q", "-b", "main")
    git(project_dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty",
        "-m", "start")

    assert deploy(api, project_dir, members=SEED_MEMBERS[:2], isolation="worktree").status_code == 201

    pm, developer = Team.objects.get(name="shop").agents.order_by("created_at")
    assert pm.project_path == project_dir and not pm.git_branch
    assert developer.project_path.endswith("project-worktrees/shop/Shell-developer")
    assert developer.git_branch == "shop/Shell-developer"
    listed = subprocess.run(["git", "-C", project_dir, "worktree", "list"], capture_output=True, text=True).stdout
    assert developer.project_path in listed
    assert api.post("/teams/shop/teardown").status_code == 200
    listed = subprocess.run(["git", "-C", project_dir, "worktree", "list"], capture_output=True, text=True).stdout
    assert developer.project_path not in listed
    branches = subprocess.run(["git", "-C", project_dir, "branch", "--list", "shop/*"], capture_output=True,
                              text=True).stdout
    assert "shop/Shell-developer" in branches


def test_the_orchestrator_agent_hears_of_new_teams(api, project_dir, gateway, eager_jobs):
    from agents.services import agent_spawn

    agent_spawn(session_name="hq", agent_type="orchestrator", project_path=project_dir, profile="shell")

    assert deploy(api, project_dir).status_code == 201

    note = Message.objects.get(agent__session_name="hq", kind=MessageKind.MESSAGE)
    assert note.body.startswith(f"New team shop deployed on {project_dir}:")
    assert "- shop:Shell-qa (qa)" in note.body


def test_an_orchestrator_started_later_is_briefed_with_the_teams(api, project_dir, gateway, eager_jobs):
    from agents.services import agent_spawn

    assert deploy(api, project_dir).status_code == 201

    boss = agent_spawn(session_name="hq", agent_type="orchestrator", project_path=project_dir, profile="shell").agent

    briefing = Message.objects.get(agent=boss, kind=MessageKind.BRIEFING).body
    assert "The teams now:" in briefing
    assert f"- shop on {project_dir}: shop:Shell-pm (pm), shop:Shell-developer (developer), shop:Shell-qa (qa)" \
        in briefing
