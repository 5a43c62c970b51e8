"""A real Claude Code permission prompt, answered from the dashboard's "Needs you" in a real
browser: the prompt's own text is shown, and Approve runs the command."""

import re

import pytest

from agents.models import AgentState
from agents.tests.test_claude_code import claude, deliver, state_of, sweep_until  # noqa: F401  (fixture)
from conftest import shot, wait_for
from dashboard.login import login_link

pytestmark = [pytest.mark.claude, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def test_a_claude_code_permission_prompt_is_approved_from_needs_you(browser, claude, stub, http_server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    made = tmp_path / "approved-from-the-page.txt"
    stub.reply_tool("Bash", {"command": f"touch {made}", "description": "Create the file"})
    stub.reply_text("Created it.")
    deliver(claude, "please create the file")
    sweep_until(lambda: state_of(claude) == AgentState.WAITING_APPROVAL, message="the permission prompt")
    link = re.sub(r"^http://[^/]+", http_server, login_link("http://x"))

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(link)
    page.get_by_role("link", name="Needs you").click()
    need = page.locator(f"#need-{claude.pk}")
    expect(need).to_contain_text("cc:")
    expect(need.locator(".prompt")).to_contain_text(str(made.name))  # the prompt's own words
    shot(page, "needs-you-claude-prompt")
    need.get_by_role("button", name="Approve").click()

    expect(page.locator("#answered")).to_contain_text(f"Approved: approve of {claude.target}", timeout=30_000)
    wait_for(made.exists, timeout=20, message="the approved command to run")
    sweep_until(lambda: state_of(claude) == AgentState.IDLE, message="Claude back at its prompt")
    expect(page.locator(f"#need-{claude.pk}")).to_have_count(0, timeout=10_000)  # the list follows the stream
