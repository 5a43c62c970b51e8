"""The dashboard's pages. They read through selectors; everything they do is a declared
operation, called for the logged-in person, so the API's rules and defaults hold here too."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlencode, urlsplit

from ansi2html import Ansi2HTMLConverter
from django import forms
from django.contrib import messages as django_messages
from django.contrib.auth import login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.views import LoginView
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError

from agents.models import Agent, Message
from agents.selectors import agent_explain, message_history
from dashboard import board
from dashboard.login import user_of_link
from monitoring.models import PaneScreen
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Result, get_operation
from orchestrator.permissions import Caller
from orchestrator.serializers import error_text
from teams.models import Standup

HISTORY = 50  # messages on an agent's page
TIMELINE = 50  # changes of state on an agent's page
MAX_CARDS = 500  # agents one refresh may ask for
WORDS = {str(state): word for state, word in board.STATE_WORDS.items()}
COLOURS = {"inline": False, "dark_bg": True, "scheme": "xterm", "line_wrap": False}


def staff_required(view):
    """Logged in, as an active staff member (as the admin asks); else to the login page. An
    htmx request (the session ended under an open page) sends the whole page there, to come
    back to that page, not to the piece it asked for."""
    to_login = user_passes_test(lambda user: user.is_active and user.is_staff, login_url="dashboard-login")(view)

    @functools.wraps(view)
    def run(request, *args, **kwargs):
        user = request.user
        if request.htmx and not (user.is_active and user.is_staff):
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            response = HttpResponse(status=204)
            response["HX-Redirect"] = f"{reverse('dashboard-login')}?{urlencode({'next': current.path or '/'})}"
            return response
        return to_login(request, *args, **kwargs)

    return run


def not_found(request, what: str):
    return render(request, "dashboard/not_found.html", {"what": what}, status=404)


def act(request, operation_name: str, /, **arguments) -> tuple[Result | None, str | None]:
    """Run the operation `operation_name` for the person logged in; (its result, or the refusal)."""
    op = get_operation(operation_name)
    try:
        result = op(Caller(f"dashboard:{request.user.username}"), op.inputs(arguments))
    except OrchestratorError as error:
        return None, error.message
    except ValidationError as error:
        return None, error_text(error.detail)
    return result, result.error


# --- logging in ----------------------------------------------------------------------------


class StaffLoginForm(AuthenticationForm):
    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError("This account is not a staff account.", code="not_staff")


class DashboardLogin(LoginView):
    template_name = "registration/login.html"
    form_class = StaffLoginForm


@require_GET
def login_once(request, uid: str, token: str):
    """The start banner's link: it logs the local user in, once."""
    user = user_of_link(uid, token)
    if user is None:
        return render(request, "registration/login.html", {
            "form": DashboardLogin.form_class(request), "link_refused": True}, status=403)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("dashboard-overview")


# --- the overview ----------------------------------------------------------------------------


@staff_required
@require_GET
def overview(request):
    found = board.cards()
    return render(request, "dashboard/overview.html", {
        "groups": board.groups(found), "counts": board.counts(found), "total": len(found),
        "urgency": [str(state) for state in board.URGENCY],
        "words": WORDS,
    })


@staff_required
@require_GET
def cards(request):
    """The cards of `ids` (comma-separated), as the overview refreshes them live."""
    ids = [int(part) for part in request.GET.get("ids", "").split(",") if re.fullmatch(r"\d{1,18}", part)]
    return render(request, "dashboard/_cards.html", {"cards": board.cards(agent_ids=ids[:MAX_CARDS])})


# --- one agent ------------------------------------------------------------------------------


def with_agent(view):
    @functools.wraps(view)
    def run(request, pk: int, *args, **kwargs):
        agent = Agent.objects.select_related("team").filter(pk=pk).first()
        if agent is None:
            return not_found(request, f"No agent #{pk}.")
        return view(request, agent, *args, **kwargs)
    return run


# OSC 8 hyperlinks: on a page they would be real links an agent could dress up as anything.
HYPERLINK = re.compile(r"\x1b\]8;[^\x07\x1b]*(?:\x07|\x1b\\)")


def screen_html(agent: Agent) -> str:
    """The agent's screen as last saved for someone following it, with its colours."""
    screen = PaneScreen.objects.filter(agent=agent).first()
    if screen is None or not (screen.ansi or screen.text):
        return ""
    return Ansi2HTMLConverter(**COLOURS).convert(HYPERLINK.sub("", screen.ansi or screen.text), full=False)


@staff_required
@require_GET
@with_agent
def agent_page(request, agent: Agent):
    [card] = board.cards(agent_ids=[agent.pk])
    return render(request, "dashboard/agent.html", {
        "card": card, "agent": agent, "explain": agent_explain(agent=agent),
        "history": message_history(agent=agent, limit=HISTORY)[::-1],
        "events": agent.events.order_by("-created_at", "-id")[:TIMELINE],
        "screen": screen_html(agent), "ansi_css": Ansi2HTMLConverter(**COLOURS).produce_headers(), "words": WORDS,
    })


@staff_required
@require_GET
@with_agent
def agent_screen(request, agent: Agent):
    return HttpResponse(screen_html(agent))


@staff_required
@require_GET
@with_agent
def agent_history(request, agent: Agent):
    return render(request, "dashboard/_history.html",
                  {"history": message_history(agent=agent, limit=HISTORY)[::-1]})


@staff_required
@require_POST
@with_agent
def agent_send(request, agent: Agent):
    result, error = act(request, "messages_send", target=agent.target, message=request.POST.get("message", ""),
                        urgent=request.POST.get("urgent") == "on")
    sent = Message.objects.filter(pk=result.data["id"]).first() if result and result.data else None
    if not request.htmx:
        return done(request, error, f"Message #{sent.pk if sent else ''} {sent.status if sent else ''}.",
                    back=reverse("dashboard-agent", args=[agent.pk]))
    return render(request, "dashboard/_sent.html", {"error": error, "sent": sent}, status=400 if error else 200)


@staff_required
@require_POST
@with_agent
def agent_answer(request, agent: Agent, answer: str):
    if answer not in ("approve", "deny"):
        return not_found(request, f"No answer {answer!r}: approve or deny.")
    result, error = act(request, f"agents_{answer}", target=agent.target)
    detail = result.data.get("detail") if result else ""
    if not request.htmx:
        return done(request, error, f"{answer.capitalize()}: {detail}", back=reverse("dashboard-agent", args=[agent.pk]))
    return render(request, "dashboard/_sent.html", {
        "error": error, "answered": "" if error else answer, "detail": detail,
        "pending": bool(result) and result.status == 202}, status=400 if error else 200)


def done(request, error: str | None, text: str, *, back: str):
    """What a form's POST answers: a line for htmx to put in place (a refusal too: base.html
    has htmx swap 4xx answers), or (without JavaScript) back to the page with the same line
    as a message."""
    if request.htmx:
        return render(request, "dashboard/_done.html", {"error": error, "text": text}, status=400 if error else 200)
    (django_messages.error if error else django_messages.success)(request, error or text)
    return redirect(back)


# --- what needs you ------------------------------------------------------------------------


@staff_required
@require_GET
def needs_you(request):
    template = "dashboard/_needs_you.html" if request.htmx else "dashboard/needs_you.html"
    return render(request, template, board.needs_you())


@staff_required
@require_POST
@with_agent
def agent_restart(request, agent: Agent):
    result, error = act(request, "agents_restart", target=agent.target)
    return done(request, error, f"Restart of {agent.target}: {result.data.get('detail') if result else ''}",
                back="dashboard-needs-you")


# --- tasks -----------------------------------------------------------------------------------


@staff_required
@require_GET
def tasks_board(request):
    template = "dashboard/_board.html" if request.htmx else "dashboard/tasks.html"
    return render(request, template, {"columns": board.task_board()})


@staff_required
@require_POST
def task_move(request, pk: int):
    result, error = act(request, "tasks_status", id=pk, status=request.POST.get("status", ""),
                        note=request.POST.get("note", ""))
    if request.htmx:
        return render(request, "dashboard/_board.html", {"columns": board.task_board(), "error": error,
                                                         "moved": result.data if result else None},
                      status=400 if error else 200)
    return done(request, error, f"Task #{pk} moved.", back="dashboard-tasks")


# --- teams -----------------------------------------------------------------------------------


@staff_required
@require_GET
def teams_page(request):
    from agents.profiles import all_profiles
    from teams.selectors import team_list
    from teams.templates import all_templates

    return render(request, "dashboard/teams.html", {
        "teams": team_list(), "templates": sorted(all_templates().values(), key=lambda t: t.name),
        "profiles": sorted(all_profiles()), "standups": Standup.objects.all()[:10],
    })


@staff_required
@require_POST
def team_deploy(request):
    form = request.POST
    arguments = {"project_name": form.get("project_name", ""), "project_path": form.get("project_path", ""),
                 "team_type": form.get("team_type", ""), "isolation": form.get("isolation") or None,
                 "profile": form.get("profile") or None}
    if form.get("size"):
        arguments["size"] = form["size"]
    result, error = act(request, "coordination_deploy_team", **{k: v for k, v in arguments.items() if v is not None})
    return done(request, error, f"Team {arguments['project_name']} deployed.", back="dashboard-teams")


@staff_required
@require_POST
def team_standup(request, name: str):
    result, error = act(request, "coordination_standup", session_names=[name], wait=False)
    if error:
        return done(request, error, "", back="dashboard-teams")
    url = reverse("dashboard-standup", args=[result.data["id"]])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@staff_required
@require_POST
def team_teardown(request, name: str):
    result, error = act(request, "teams_teardown", name=name)
    return done(request, error, f"Team {name} torn down.", back="dashboard-teams")


@staff_required
@require_GET
def standup_page(request, pk: int):
    standup = Standup.objects.prefetch_related("replies__agent").filter(pk=pk).first()
    if standup is None:
        return not_found(request, f"No standup #{pk}.")
    template = "dashboard/_standup.html" if request.htmx else "dashboard/standup.html"
    return render(request, template, {"standup": standup})


@staff_required
@require_GET
def system_page(request):
    return render(request, "dashboard/system.html", board.system())
