"""Runs in the browser: a five-phase workflow followed live, cancelling, the dashboard,
agents and memory."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in
from tests.support.scripted_model import ScriptedModelServer

pytestmark = pytest.mark.browser


def enqueue_json(model: ScriptedModelServer, value: dict) -> None:
    model.enqueue(text=json.dumps(value))


def script_workflow(model: ScriptedModelServer) -> None:
    """SPEC, a two-step PLAN (the first step uses the calculator), the answers, a passing VERIFY."""
    enqueue_json(
        model, {"goal": "Multiply 17 by 23", "acceptance_criteria": ["the product is 391"]}
    )
    enqueue_json(
        model,
        {
            "steps": [
                {"title": "Compute", "instruction": "multiply 17 by 23 with the calculator"},
                {"title": "Report", "instruction": "state the product"},
            ]
        },
    )
    model.enqueue(tool_calls=[("calculate", {"expression": "17*23"})])
    model.enqueue(text="17 x 23 = **391**")
    model.enqueue(text="The product is 391.")
    met = {"criterion": "the product is 391", "met": True, "quote": "The product is 391."}
    enqueue_json(model, {"passed": True, "criteria": [met], "notes": "391 is right"})


def start_run(page: Page, goal: str) -> None:
    page.get_by_test_id("nav-runs").click()
    page.get_by_test_id("new-run").click()
    page.get_by_label("Goal").fill(goal)
    page.get_by_test_id("start-run").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/]+$"))


def wait_for_status(site: Site, run_id: str, headers: dict[str, str], *statuses: str) -> dict:
    deadline = time.monotonic() + 20
    run: dict = {}
    while time.monotonic() < deadline:
        run = site.api.client.get(f"/runs/{run_id}", headers=headers).json()
        if run["status"] in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run stayed {run.get('status')}")


def test_workflow_run_started_in_the_ui_reaches_its_report(page: Page, site: Site) -> None:
    site.account("alice")
    site.model.token_delay = 0.02
    script_workflow(site.model)
    sign_in(page, site, "alice")

    start_run(page, "What is 17 x 23?")
    expect(page.get_by_test_id("run-goal")).to_have_text("What is 17 x 23?")
    expect(page.get_by_test_id("phase-stepper")).to_be_visible()
    report = page.get_by_test_id("run-report")
    expect(report).to_be_visible()
    expect(report).to_have_attribute("data-status", "succeeded")
    expect(report.locator("h1")).to_have_text("Multiply 17 by 23")
    expect(report).to_contain_text("The product is 391.")

    for phase in ("spec", "plan", "execute", "verify"):
        expect(page.get_by_test_id(f"phase-{phase}")).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("phase-repair")).to_have_attribute("data-state", "skipped")
    expect(page.get_by_test_id("phase-card-spec")).to_contain_text("the product is 391")
    expect(page.get_by_test_id("phase-card-plan")).to_contain_text("Compute")
    steps = page.get_by_test_id("run-step")
    expect(steps).to_have_count(2)
    expect(steps.first).to_have_attribute("data-status", "finished")
    expect(steps.first.get_by_test_id("tool-card")).to_have_attribute("data-status", "finished")
    expect(steps.nth(1)).to_contain_text("The product is 391.")
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-passed", "true")
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("cancel-run")).to_have_count(0)
    shot(page, "run-light")

    # A reload replays the whole log: nothing shown twice.
    page.evaluate("localStorage.setItem('orchestrator.theme', 'dark')")
    page.reload()
    expect(page.get_by_test_id("run-report")).to_contain_text("The product is 391.")
    expect(page.get_by_test_id("run-step")).to_have_count(2)
    expect(page.get_by_test_id("phase-card-execute")).to_have_count(1)
    expect(page.get_by_test_id("tool-card")).to_have_count(1)
    # A finished run opens at the top, on its stepper.
    expect(page.get_by_test_id("phase-stepper")).to_be_in_viewport()
    shot(page, "run-dark")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Open menu")).to_be_visible()
    page.wait_for_timeout(300)  # the sidebar's slide-out transition, for the screenshot
    shot(page, "run-phone-dark")
    page.set_viewport_size({"width": 1280, "height": 820})

    page.get_by_role("link", name="All runs").click()
    expect(page.get_by_test_id("run-list").locator("li")).to_have_count(1)
    expect(page.get_by_test_id("run-list")).to_contain_text("What is 17 x 23?")
    page.get_by_test_id("run-status-filter").select_option("failed")
    expect(page.get_by_text("No failed runs.")).to_be_visible()
    page.get_by_test_id("run-status-filter").select_option("succeeded")
    expect(page.get_by_test_id("run-list").locator("li")).to_have_count(1)
    shot(page, "runs-dark")


def test_a_run_waiting_for_approval_is_cancelled(page: Page, site: Site) -> None:
    site.account("alice")
    enqueue_json(site.model, {"goal": "Clean up", "acceptance_criteria": ["disk is clean"]})
    enqueue_json(site.model, {"steps": [{"title": "Wipe", "instruction": "remove the files"}]})
    site.model.enqueue(tool_calls=[("execute_command", {"command": "rm -rf scratch"})])
    sign_in(page, site, "alice")

    start_run(page, "Clean up the workspace")
    approval = page.get_by_test_id("approval-card")
    expect(approval).to_contain_text("execute_command")
    expect(page.get_by_test_id("run-waiting")).to_be_visible()
    expect(page.get_by_test_id("phase-execute")).to_have_attribute("data-state", "active")
    shot(page, "run-approval")

    page.get_by_test_id("cancel-run").click()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("run-report")).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("cancel-run")).to_have_count(0)
    expect(approval.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_test_id("phase-execute")).to_have_attribute("data-state", "failed")
    shot(page, "run-cancelled")


def test_dashboard_shows_runs_tools_and_the_machine(page: Page, site: Site) -> None:
    alice = site.account("alice")
    script_workflow(site.model)
    created = site.api.client.post(
        "/runs", json={"goal": "Multiply for the dashboard"}, headers=alice.headers
    ).json()
    wait_for_status(site, created["id"], alice.headers, "succeeded", "failed")
    sign_in(page, site, "alice")

    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("page-title")).to_have_text("Dashboard")
    expect(page.get_by_test_id("recent-runs")).to_contain_text("Multiply for the dashboard")
    expect(page.get_by_test_id("active-runs")).to_contain_text("Nothing running right now.")
    expect(page.get_by_test_id("stat-cpu")).to_be_visible()
    expect(page.get_by_test_id("stat-uptime")).to_contain_text("1 run ·")
    calculate = page.get_by_test_id("tool-stats").locator("tr", has_text="calculate")
    expect(calculate.locator("td").nth(1)).to_have_text("1")
    shot(page, "dashboard-light")

    page.get_by_test_id("recent-runs").get_by_text("Multiply for the dashboard").click()
    expect(page.get_by_test_id("run-report")).to_be_visible()
    page.evaluate("localStorage.setItem('orchestrator.theme', 'dark')")
    page.goto(f"{site.url}/dashboard")
    expect(page.get_by_test_id("recent-runs")).to_contain_text("Multiply for the dashboard")
    shot(page, "dashboard-dark")


def test_agents_are_listed_and_an_admin_adds_edits_and_removes_one(page: Page, site: Site) -> None:
    site.account("alice")  # the first account: an admin
    sign_in(page, site, "alice")
    page.get_by_test_id("nav-agents").click()
    expect(page.get_by_test_id("agent-planner")).to_contain_text("workflow")
    expect(page.get_by_test_id("agent-assistant")).to_contain_text("built-in")
    shot(page, "agents")

    page.get_by_test_id("new-agent").click()
    form = page.get_by_test_id("agent-form")
    form.get_by_label("Name").fill("poet")
    form.get_by_label("Description").fill("Writes short poems.")
    form.get_by_label("System prompt").fill("You are a poet.")
    form.get_by_label("Every enabled tool").uncheck()
    form.get_by_label("calculate").check()
    shot(page, "agent-form")
    page.get_by_test_id("save-agent").click()
    card = page.get_by_test_id("agent-poet")
    expect(card).to_contain_text("Writes short poems.")
    expect(card).to_contain_text("calculate")

    card.get_by_role("button", name="Edit poet").click()
    page.get_by_test_id("agent-form").get_by_label("Description").fill("Writes haiku.")
    page.get_by_test_id("save-agent").click()
    expect(card).to_contain_text("Writes haiku.")
    page.reload()
    expect(page.get_by_test_id("agent-poet")).to_contain_text("Writes haiku.")

    page.get_by_role("button", name="Delete poet").click()
    page.get_by_test_id("agent-poet").get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_test_id("agent-poet")).to_have_count(0)


def test_a_user_sees_agents_without_admin_controls(page: Page, site: Site) -> None:
    site.account("alice")  # the admin
    site.account("bob")  # registration is open here: bob is a plain, active user
    sign_in(page, site, "bob")
    page.evaluate("localStorage.setItem('orchestrator.theme', 'dark')")
    page.get_by_test_id("nav-agents").click()
    expect(page.get_by_test_id("agent-planner")).to_be_visible()
    expect(page.get_by_test_id("new-agent")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit", exact=False)).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("agent-coder")).to_be_visible()
    shot(page, "agents-dark")


def test_memories_are_added_searched_edited_and_deleted(page: Page, site: Site) -> None:
    site.account("alice")
    sign_in(page, site, "alice")
    page.get_by_test_id("nav-memory").click()
    expect(page.get_by_test_id("page-title")).to_have_text("Memory")
    expect(page.get_by_text("Nothing remembered yet.")).to_be_visible()

    for content, tags in (
        ("The staging server is staging.internal:8443", "servers, staging"),
        ("Alice prefers answers in French", "preferences"),
    ):
        page.get_by_test_id("add-memory").click()
        page.get_by_label("Memory content").fill(content)
        page.get_by_label("Tags").fill(tags)
        page.get_by_test_id("save-memory").click()
        expect(page.get_by_test_id("memory-list")).to_contain_text(content)
    items = page.get_by_test_id("memory-item")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("French")  # newest first
    expect(items.nth(1)).to_contain_text("staging")
    expect(items.first).to_contain_text("added just now")
    shot(page, "memory")

    page.get_by_label("Search memories").fill("which host is staging on")
    expect(items.first).to_contain_text("staging.internal")
    expect(items.first.get_by_test_id("memory-score")).to_contain_text("% match")
    shot(page, "memory-search")

    items.first.get_by_role("button", name="Edit memory").click()
    items.first.get_by_label("Memory content").fill("The staging server is staging.internal:9443")
    items.first.get_by_test_id("save-memory").click()
    expect(items.first.get_by_test_id("memory-content")).to_have_text(
        "The staging server is staging.internal:9443"
    )

    page.get_by_label("Search memories").fill("")
    expect(items).to_have_count(2)
    target = items.filter(has_text="French")
    target.get_by_role("button", name="Delete memory").click()
    target.get_by_role("button", name="Delete", exact=True).click()
    expect(items).to_have_count(1)
    page.evaluate("localStorage.setItem('orchestrator.theme', 'dark')")
    page.reload()
    expect(page.get_by_test_id("memory-item")).to_have_count(1)
    expect(page.get_by_test_id("memory-item")).to_contain_text("9443")
    shot(page, "memory-dark")
