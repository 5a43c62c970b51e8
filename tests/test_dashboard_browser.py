"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against the
README's run command: log in with the banner's link, watch a new agent's card change live,
send a message from its page and see it on its screen, move a task on the board.
Screenshots go to var/screenshots/."""

from __future__ import annotations

import re

import pytest

from bench.service import Http, Service
from conftest import shot

pytestmark = [pytest.mark.smoke, pytest.mark.timeout(420)]

LIVE = 60_000  # ms: the longest a state change may take to show here (the watcher and a shell)


def banner_link(service: Service) -> str:
    found = [re.search(r"Dashboard:\s+(\S+)", line) for line in service.lines]
    return [m.group(1) for m in found if m][-1]


def test_a_new_agents_card_changes_live_and_a_message_from_its_page_reaches_its_screen(browser, service):
    from playwright.sync_api import expect

    http = Http(service.base_url, service.token)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(banner_link(service))
    expect(page).to_have_url(f"{service.base_url}/")
    expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    # What the card says, each time it changes: proof that it changed without a reload.
    page.evaluate("""() => {
        window.seen = []; window.notReloaded = true;
        new MutationObserver(() => {
            const card = document.querySelector('li.card');
            const state = card && card.dataset.state;
            if (state && window.seen[window.seen.length - 1] !== state) window.seen.push(state);
        }).observe(document.getElementById('groups'), {subtree: true, childList: true, attributes: true});
    }""")
    expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)

    project = service.workdir / "project"
    project.mkdir()
    status, body = http.call("POST", "/agents/spawn", {
        "session_name": "web", "name": "sh", "agent_type": "developer", "project_path": str(project),
        "profile": "shell", "briefing_message": "# from the browser test"})
    assert status == 201, (body, service.recent_output())
    card = page.locator(f"#agent-{body['data']['id']}")
    expect(card).to_have_attribute("data-state", "idle", timeout=LIVE)

    status, body = http.call("POST", "/messages/send", {"target": "web:sh", "message": "sleep 3"})
    assert status == 201, body
    expect(card).to_have_attribute("data-state", "working", timeout=LIVE)
    expect(card.locator("[data-word]")).to_have_text("working")
    shot(page, "overview-working")
    expect(card).to_have_attribute("data-state", "idle", timeout=LIVE)
    seen = page.evaluate("window.seen")
    assert page.evaluate("window.notReloaded") and seen[-2:] == ["working", "idle"], seen
    assert page.locator("[data-count=idle] .n").inner_text() == "1"
    shot(page, "overview-idle")

    card.get_by_role("link", name="sh").click()
    expect(page.get_by_role("heading", name=re.compile("^web:sh"))).to_be_visible()
    page.get_by_role("textbox", name="Message").fill("echo hello-from-the-page-$((6*7))")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#sent")).to_contain_text("Message #", timeout=10_000)
    expect(page.locator("#screen")).to_contain_text("hello-from-the-page-42", timeout=LIVE)
    expect(page.locator("#history")).to_contain_text("delivered", timeout=LIVE)
    shot(page, "agent-page")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "agent-page-phone")

    page.set_viewport_size({"width": 1280, "height": 800})
    status, body = http.call("POST", "/tasks/create", {"title": "Write the release notes", "priority": "high"})
    assert status == 201, body
    task = body["data"]["id"]
    page.get_by_role("link", name="Tasks").click()
    card = page.locator(f"#task-{task}")
    expect(page.locator("[data-column=pending]").locator(f"#task-{task}")).to_be_visible()
    card.get_by_label(f"Move #{task} to").select_option("blocked")
    card.get_by_role("button", name="Move").click()
    expect(page.locator("[data-column=blocked]").locator(f"#task-{task}")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=f"Task #{task} is blocked")).to_be_visible()
    status, body = http.call("GET", f"/tasks/{task}")
    assert body["data"]["status"] == "blocked" and body["data"]["events"][-1]["by"].startswith("dashboard:")
    shot(page, "tasks-board")
    assert not http.server_errors, http.server_errors
