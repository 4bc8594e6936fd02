"""The dashboard's Workflows view in a real browser (Debian's Chromium through Playwright,
as ``test_dashboard_browser``): ``collab dev`` with a real worker process
(``workflow_dash_app``) running small workflows. The view lists the runs and draws a run's
graph, whose step statuses move live from ``WS /ws/runs/{run_id}`` with no reload; Approve
(with data), Cancel and Retry act on the database and the page shows what they did.
Screenshots are kept in the test's ``tmp_path``."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from collab_sdk.auth.tokens import mint_token
from http_support import SECRET, free_port
from support import Caller, add_members
from test_dashboard_browser import Dev, browser, open_page, process, pytestmark  # noqa: F401 (fixture, marks)

V1 = "/api/v1"


class WorkflowDev(Dev):
    """``collab dev --worker workflow_dash_app:worker``; ``wf.flaky`` fails while
    ``fail_flag`` exists."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        super().__init__(db_url, tmp_path)
        self.args[-1] = "workflow_dash_app:worker"
        self.env["WF_FAIL_FLAG"] = str(self.fail_flag)

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """The workflow API as the development identity (no credentials, like the page)."""
        response = httpx.request(method, f"{self.base}{V1}{path}", json=body, timeout=10)
        assert response.status_code == status, response.text
        return response.json()

    def published(self, nodes: list[dict[str, Any]]) -> str:
        """A chain of ``nodes``, created and published; its id."""
        edges = [{"id": f"{a['id']}:{b['id']}", "source": a["id"], "target": b["id"]}
                 for a, b in zip(nodes, nodes[1:])]
        made = self.call("POST", "/workflows", {"name": "dash-flow", "definition": {"nodes": nodes, "edges": edges}},
                         status=201)
        self.call("POST", f"/workflows/{made['id']}/publish")
        return str(made["id"])

    def start(self, workflow_id: str) -> str:
        return str(self.call("POST", f"/workflows/{workflow_id}/run", {"input": {}}, status=201)["id"])

    def wait_for_catalog(self) -> None:
        deadline = time.monotonic() + 30
        while not {"wf.work", "wf.flaky"} <= {s["name"] for s in self.call("GET", "/catalog/steps")}:
            assert time.monotonic() < deadline, (self.tmp / "dev.log").read_text()
            time.sleep(0.2)


@pytest.fixture
def wdev(db_url: str, tmp_path: Path) -> Iterator[WorkflowDev]:
    server = WorkflowDev(db_url, tmp_path)
    with server.running():
        server.wait_for_catalog()
        yield server


def step(page: Page, step_id: str) -> Any:
    return page.locator(f"#wf-graph .wf-node[data-step='{step_id}']")


def test_a_runs_statuses_move_live_and_approve_and_retry_work(browser: Browser, wdev: WorkflowDev,
                                                             tmp_path: Path) -> None:
    wdev.fail_flag.touch()
    workflow = wdev.published([
        {"id": "fetch", "type": "wf.work", "data": {"config": {"seconds": 1.5}}},
        {"id": "gate", "type": "approval", "data": {}},
        {"id": "publish", "type": "wf.flaky", "data": {"max_attempts": 1}}])
    page, errors = open_page(browser, f"{wdev.base}/dashboard#workflows")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#workflows")).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    expect(page.locator("#views a[href='#workflows']")).to_have_attribute("aria-current", "page")
    expect(page.locator("#wf-runs li.empty")).to_have_count(1)

    run_id = wdev.start(workflow)
    page.click("#wf-refresh")
    row = page.locator(f"#wf-runs li[data-run='{run_id}']")
    expect(row).to_contain_text("dash-flow v1")
    row.locator("a").click()
    expect(page.locator("#wf-live")).to_have_attribute("data-state", "live", timeout=5000)
    # Three nodes in three layers, two edges; fetch runs (live from the socket), then the gate waits.
    expect(page.locator("#wf-graph .wf-node")).to_have_count(3)
    expect(page.locator("#wf-graph .wf-edge")).to_have_count(2)
    xs = [step(page, s).evaluate("n => n.getBBox().x + n.getCTM().e") for s in ("fetch", "gate", "publish")]
    assert xs[0] < xs[1] < xs[2], xs
    expect(step(page, "fetch")).to_have_attribute("data-status", "running", timeout=5000)
    page.screenshot(path=str(tmp_path / "wf-running.png"), full_page=True)
    expect(step(page, "fetch")).to_have_attribute("data-status", "succeeded", timeout=8000)
    expect(step(page, "gate")).to_have_attribute("data-status", "waiting", timeout=3000)
    expect(page.locator("#wf-fields [data-field='status']")).to_have_text("paused", timeout=3000)
    expect(row.locator(".wf-status")).to_have_text("paused")
    page.screenshot(path=str(tmp_path / "wf-waiting.png"), full_page=True)

    page.fill("#wf-data-gate", '{"by": "ana"}')
    page.get_by_role("button", name="Approve step gate").click()
    expect(step(page, "gate")).to_have_attribute("data-status", "succeeded", timeout=5000)
    expect(step(page, "publish")).to_have_attribute("data-status", "failed", timeout=8000)
    expect(page.locator("#wf-fields [data-field='status']")).to_have_text("failed")
    expect(page.locator("#wf-steps tr[data-step='publish'] .wf-error")).to_contain_text("flaky failed on purpose")
    expect(page.locator("#wf-cancel")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "wf-failed.png"), full_page=True)

    wdev.fail_flag.unlink()
    page.click("#wf-retry")
    expect(step(page, "publish")).to_have_attribute("data-status", "succeeded", timeout=8000)
    expect(page.locator("#wf-fields [data-field='status']")).to_have_text("succeeded", timeout=5000)
    expect(page.locator("#wf-live")).to_have_attribute("data-state", "ended")
    page.screenshot(path=str(tmp_path / "wf-succeeded.png"), full_page=True)

    run = wdev.call("GET", f"/runs/{run_id}")
    assert run["status"] == "succeeded"
    assert run["context"]["gate"] == {"by": "ana"}
    assert run["context"]["publish"] == {"approved_by": "ana"}
    steps = {s["step_id"]: s for s in wdev.call("GET", f"/runs/{run_id}/steps")}
    assert steps["fetch"]["attempts"] == 1, "retry ran a succeeded step again"
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert page.evaluate("window.collabWorkflows.counters.events") >= 8
    assert errors == []


def test_cancel_a_running_run_and_bad_approval_data_is_refused(browser: Browser, wdev: WorkflowDev,
                                                              tmp_path: Path) -> None:
    slow = wdev.published([{"id": "slow", "type": "wf.work", "data": {"config": {"seconds": 60}}},
                           {"id": "after", "type": "wf.work", "data": {}}])
    run_id = wdev.start(slow)
    page, errors = open_page(browser, f"{wdev.base}/dashboard#workflows/{run_id}")
    page.on("dialog", lambda d: d.accept())
    expect(step(page, "slow")).to_have_attribute("data-status", "running", timeout=8000)
    expect(step(page, "after")).to_have_attribute("data-status", "pending")
    page.click("#wf-cancel")
    expect(page.locator("#wf-fields [data-field='status']")).to_have_text("cancelled", timeout=5000)
    expect(step(page, "slow")).to_have_attribute("data-status", "cancelled")
    expect(step(page, "after")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#wf-cancel")).to_have_count(0)
    expect(page.locator("#wf-retry")).to_have_count(0)
    assert wdev.call("GET", f"/runs/{run_id}")["status"] == "cancelled"
    page.screenshot(path=str(tmp_path / "wf-cancelled.png"), full_page=True)

    gated = wdev.published([{"id": "gate", "type": "approval", "data": {}}])
    waiting = wdev.start(gated)
    page.goto(f"{wdev.base}/dashboard#workflows/{waiting}")
    expect(step(page, "gate")).to_have_attribute("data-status", "waiting", timeout=5000)
    page.fill("#wf-data-gate", "[1, 2]")
    page.get_by_role("button", name="Approve step gate").click()
    expect(page.locator("#notice")).to_contain_text("JSON object")
    assert wdev.call("GET", f"/runs/{waiting}")["status"] == "paused"
    # A resume the engine refuses (the run was cancelled meanwhile) shows its reason.
    wdev.call("POST", f"/runs/{waiting}/cancel", {})
    expect(page.locator("#wf-fields [data-field='status']")).to_have_text("cancelled", timeout=5000)
    expect(page.get_by_role("button", name="Approve step gate")).to_have_count(0)
    assert errors == []


def test_a_signed_in_operator_follows_and_approves_only_their_executors_runs(
        browser: Browser, db_url: str, owner: Caller, tmp_path: Path) -> None:
    """``collab serve`` requiring JWTs: the page offers its token as the socket's
    subprotocol from its own origin (no CORS origin configured); RLS scopes what it sees."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "COLLAB_DATABASE_URL": db_url, "COLLAB_JWT_MODE": "local",
           "SUPABASE_JWT_SECRET": SECRET, "COLLAB_REQUIRE_JWT": "1", "COLLAB_RATE_LIMIT": "off",
           "COLLAB_ENV": "production", "COLLAB_STORAGE_DIR": str(tmp_path / "storage"),
           "COLLAB_QUEUE_EXECUTOR": "exec-a"}
    env.pop("COLLAB_CORS_ORIGINS", None)
    ana, bob = uuid.uuid4(), uuid.uuid4()
    add_members(owner, ana, {"exec-a": "admin"})
    add_members(owner, bob, {"exec-b": "admin"})
    tokens = {who: mint_token(SECRET, sub=str(who)) for who in (ana, bob)}
    with process(["serve", "--port", str(port)], env, tmp_path / "serve.log", base):
        def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            response = httpx.request(method, f"{base}{V1}{path}", json=body, timeout=10,
                                     headers={"Authorization": f"Bearer {tokens[ana]}"})
            assert response.status_code == status, response.text
            return response.json()

        made = call("POST", "/workflows", {"name": "signed", "executor_id": "exec-a", "definition": {
            "nodes": [{"id": "gate", "type": "approval", "data": {}}], "edges": []}}, status=201)
        call("POST", f"/workflows/{made['id']}/publish")
        run_id = call("POST", f"/workflows/{made['id']}/run", {"input": {}}, status=201)["id"]

        page = browser.new_page()
        page.goto(f"{base}/dashboard#workflows")
        page.fill("#token", tokens[ana])
        page.click("#signin button[type=submit]")
        row = page.locator(f"#wf-runs li[data-run='{run_id}']")
        expect(row).to_contain_text("signed v1", timeout=10_000)
        row.locator("a").click()
        expect(page.locator("#wf-live")).to_have_attribute("data-state", "live", timeout=5000)
        expect(step(page, "gate")).to_have_attribute("data-status", "waiting")
        page.fill("#wf-data-gate", '{"by": "ana"}')
        page.get_by_role("button", name="Approve step gate").click()
        expect(step(page, "gate")).to_have_attribute("data-status", "succeeded", timeout=5000)
        expect(page.locator("#wf-fields [data-field='status']")).to_have_text("succeeded")
        assert call("GET", f"/runs/{run_id}")["context"] == {"gate": {"by": "ana"}}
        page.screenshot(path=str(tmp_path / "wf-signed-in.png"), full_page=True)

        other = browser.new_page()
        other.goto(f"{base}/dashboard#workflows")
        other.fill("#token", tokens[bob])
        other.click("#signin button[type=submit]")
        other.fill("#executor", "exec-b")
        other.click("#scope button")
        expect(other.locator("#wf-runs li.empty")).to_have_count(1, timeout=10_000)
        other.goto(f"{base}/dashboard#workflows/{run_id}")
        expect(other.locator("#wf-live")).to_have_attribute("data-state", "offline", timeout=5000)
        expect(other.locator("#wf-live")).to_contain_text("refused: not_found")
        expect(other.locator("#notice")).to_contain_text("refused")
        expect(other.locator("#wf-graph .wf-node")).to_have_count(0)


def test_a_run_whose_socket_is_cut_reconnects_and_shows_the_gap(browser: Browser, db_url: str, owner: Caller,
                                                                tmp_path: Path) -> None:
    server = WorkflowDev(db_url, tmp_path)
    server.args = server.args[:-2]  # approvals only: no worker needed
    with server.running():
        gated = server.published([{"id": "first", "type": "approval", "data": {}},
                                  {"id": "second", "type": "approval", "data": {}}])
        run_id = server.start(gated)
        page, errors = open_page(browser, f"{server.base}/dashboard#workflows/{run_id}")
        expect(step(page, "first")).to_have_attribute("data-status", "waiting", timeout=5000)
    # The server is gone: the approval given now is in the gap.
    owner.rpc("resume_run_v1", run_id=run_id, step_id="first", data={"by": "cli"})
    expect(page.locator("#wf-live")).to_have_attribute("data-state", "offline", timeout=5000)
    with server.running():
        expect(step(page, "first")).to_have_attribute("data-status", "succeeded", timeout=15_000)
        expect(step(page, "second")).to_have_attribute("data-status", "waiting")
        expect(page.locator("#wf-live")).to_have_attribute("data-state", "live")
        assert page.evaluate("window.collabWorkflows.counters.snapshots") >= 2
    page.screenshot(path=str(tmp_path / "wf-resumed.png"), full_page=True)
    assert [e for e in errors if "ERR_" not in e and "Failed to load" not in e and "WebSocket" not in e] == []
