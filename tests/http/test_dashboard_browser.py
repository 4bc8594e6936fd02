"""The dashboard in a real browser: Debian's Chromium (``/usr/bin/chromium``, which
``./dev test`` installs where missing) driven by Playwright for Python (no browser
download), against ``collab dev`` and ``collab serve`` as real processes, with a real
worker process (``dashboard_app``). Screenshots are kept in the test's ``tmp_path``.

Skipped, saying why, where Playwright or Chromium is missing."""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from http_support import SECRET, free_port
from support import Caller, add_members
from support.processes import LoggedProcess
from collab_sdk.auth.tokens import mint_token

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the skip says so
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="Playwright for Python is not installed "
                       "(pip install playwright; no browser download needed)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                       "(./dev test installs it: apt-get install -y chromium)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path, base: str) -> Iterator[LoggedProcess]:
    """``collab <args>`` until its health answers; stopped afterwards."""
    proc = LoggedProcess([sys.executable, "-m", "collab_sdk.cli.main", *args], log, cwd=HERE, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/collab/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.output()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield proc
    finally:
        proc.stop(graceful=True, timeout=15)


class Dev:
    """``collab dev --worker dashboard_app:worker`` on a free port."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp_path
        self.fail_flag = tmp_path / "fail"
        self.env = {**os.environ, "COLLAB_STORAGE_DIR": str(tmp_path / "storage"), "DASH_SLEEP": "1",
                    "DASH_FAIL_FLAG": str(self.fail_flag), "COLLAB_RATE_LIMIT": "off",
                    "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        for name in ("COLLAB_DATABASE_URL", "COLLAB_REQUIRE_JWT", "COLLAB_API_KEY", "COLLAB_QUEUE_EXECUTOR"):
            self.env.pop(name, None)
        self.args = ["dev", "--port", str(self.port), "--database-url", db_url,
                     "--worker", "dashboard_app:worker"]

    @contextmanager
    def running(self) -> Iterator[LoggedProcess]:
        with process(self.args, self.env, self.tmp / "dev.log", self.base) as proc:
            yield proc

    def enqueue(self, prompt: str, **extra: Any) -> str:
        response = httpx.post(f"{self.base}/api/jobs/enqueue", json={"prompt": prompt, **extra})
        assert response.status_code == 200, response.text
        return str(response.json()["job"]["id"])


@pytest.fixture
def dev(db_url: str, tmp_path: Path) -> Iterator[Dev]:
    server = Dev(db_url, tmp_path)
    with server.running():
        yield server


def open_page(browser: Browser, url: str) -> tuple[Page, list[str]]:
    """The page at ``url``, loaded, with the console errors it logs."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    expect(page.locator("body[data-loaded]")).to_have_count(1, timeout=10_000)
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
    return page, errors


def job(page: Page, section: str, job_id: str) -> Any:
    return page.locator(f"#list-{section} li[data-job='{job_id}']")


def test_live_jobs_move_between_sections_with_no_reload_and_no_polling(browser: Browser, dev: Dev,
                                                                        tmp_path: Path) -> None:
    page, errors = open_page(browser, f"{dev.base}/dashboard")
    page.evaluate("window.__sameDocument = true")
    page.screenshot(path=str(tmp_path / "empty.png"), full_page=True)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    time.sleep(2.5)
    assert requests == [], f"an idle page fetched {requests}: a polling loop?"

    job_id = dev.enqueue("Add a dark mode toggle to the navbar.", branch="feat/dark-mode")
    expect(job(page, "claimed", job_id).or_(job(page, "pending", job_id))).to_have_count(1, timeout=3000)
    expect(job(page, "claimed", job_id)).to_have_count(1, timeout=5000)
    expect(job(page, "claimed", job_id)).to_contain_text("Worker: dash-worker")
    page.screenshot(path=str(tmp_path / "claimed.png"), full_page=True)
    expect(job(page, "completed", job_id)).to_have_count(1, timeout=8000)
    expect(job(page, "claimed", job_id)).to_have_count(0)
    expect(page.locator("[data-stat='completed']")).to_have_text("1")
    expect(page.locator("#list-workers li[data-worker]")).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    page.screenshot(path=str(tmp_path / "completed.png"), full_page=True)

    job(page, "completed", job_id).locator(".job-id").click()
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#d-events li")).not_to_have_count(0)
    expect(page.locator("#d-fields [data-field='status']")).to_have_text("succeeded")
    page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)
    assert errors == []


def test_dlq_retry_remove_and_purge_buttons(browser: Browser, dev: Dev, tmp_path: Path) -> None:
    dev.fail_flag.touch()
    page, errors = open_page(browser, f"{dev.base}/dashboard")
    page.on("dialog", lambda d: d.accept())
    doomed = dev.enqueue("please fail", maxAttempts=1)
    expect(job(page, "failed", doomed)).to_have_count(1, timeout=8000)
    expect(job(page, "failed", doomed)).to_contain_text("extraction failed on purpose")
    expect(page.locator("#list-dlq li[data-dlq]")).to_have_count(1)
    expect(page.locator("[data-stat='dlq']")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "dlq.png"), full_page=True)

    dev.fail_flag.unlink()
    page.locator("#list-dlq li[data-dlq] button", has_text="Retry").click()
    expect(page.locator("#list-dlq li[data-dlq]")).to_have_count(0, timeout=5000)
    expect(page.locator("[data-stat='completed']")).to_have_text("1", timeout=8000)
    # The dead letter's copy ran; the original stays failed until retried itself.
    expect(page.locator("[data-stat='failed']")).to_have_text("1")
    job(page, "failed", doomed).locator("button", has_text="Retry").click()
    expect(job(page, "completed", doomed)).to_have_count(1, timeout=8000)
    expect(page.locator("[data-stat='failed']")).to_have_text("0")
    expect(page.locator("[data-stat='completed']")).to_have_text("2")

    run_at = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
    later = dev.enqueue("not yet", runAt=run_at)
    expect(job(page, "pending", later)).to_have_count(1, timeout=3000)
    job(page, "pending", later).locator("button", has_text="Remove").click()
    expect(job(page, "pending", later)).to_have_count(0, timeout=3000)
    assert httpx.get(f"{dev.base}/api/jobs/{later}").status_code == 404

    page.locator("#purge").click()
    expect(page.locator("[data-stat='completed']")).to_have_text("0", timeout=3000)
    expect(page.locator("#list-completed li.empty")).to_have_count(1)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)
    assert errors == []


def test_a_page_whose_stream_is_cut_resumes_and_misses_nothing(browser: Browser, db_url: str,
                                                             owner: Caller, tmp_path: Path) -> None:
    server = Dev(db_url, tmp_path)
    server.args = server.args[:-2]  # no worker: the jobs stay pending
    with server.running():
        page, errors = open_page(browser, f"{server.base}/dashboard")
    # The server is gone: jobs committed now are in the gap.
    rows = owner.rpc("assign_jobs_v1", jobs=[{"type": "claude_extraction", "executor_id": "default",
                                              "payload": {"name": f"gap-{i}"}} for i in range(3)])
    expect(page.locator("#live")).not_to_have_attribute("data-state", "live", timeout=5000)
    with server.running():
        for row in rows:
            expect(job(page, "pending", str(row["job_id"]))).to_have_count(1, timeout=15_000)
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        assert page.evaluate("window.collabDashboard.counters.connects") >= 2
    page.screenshot(path=str(tmp_path / "resumed.png"), full_page=True)
    assert [e for e in errors if "ERR_" not in e and "Failed to load" not in e] == []


def signed_in_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """``collab serve``'s environment requiring JWTs signed with ``SECRET``."""
    return {**os.environ, "COLLAB_DATABASE_URL": db_url, "COLLAB_JWT_MODE": "local",
            "SUPABASE_JWT_SECRET": SECRET, "COLLAB_REQUIRE_JWT": "1", "COLLAB_RATE_LIMIT": "off",
            "COLLAB_STORAGE_DIR": str(tmp_path / "storage"), "COLLAB_QUEUE_EXECUTOR": "exec-a"}


def test_a_sign_in_sent_while_the_config_loads_keeps_the_token_out_of_the_url(
        browser: Browser, db_url: str, owner: Caller, tmp_path: Path) -> None:
    """The forms are wired before the page's first request: a sign-in submitted while
    ``config.json`` is still on its way never falls through to the browser's own GET
    (which would put the token in the URL, the server's log and the history)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    user = uuid.uuid4()
    add_members(owner, user, {"exec-a": "admin"})
    with process(["serve", "--port", str(port)], signed_in_env(db_url, tmp_path), tmp_path / "serve.log", base):
        page = browser.new_page()
        held: list[Any] = []
        page.route("**/dashboard/config.json", lambda route: held.append(route))
        page.goto(f"{base}/dashboard", wait_until="domcontentloaded")
        page.fill("#token", mint_token(SECRET, sub=str(user)))
        page.click("#signin button[type=submit]", no_wait_after=True)
        page.wait_for_timeout(500)
        assert "token" not in page.url and len(held) == 1, (page.url, held)
        held[0].continue_()
        expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("#signout")).to_be_visible()
        assert "token" not in page.url


def test_sign_in_is_required_refused_with_a_bad_token_and_scoped_by_rls(
        browser: Browser, db_url: str, owner: Caller, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = signed_in_env(db_url, tmp_path)
    user = uuid.uuid4()
    add_members(owner, user, {"exec-a": "admin"})
    mine = owner.one("assign_job_v1", type="t", executor_id="exec-a")
    theirs = owner.one("assign_job_v1", type="t", executor_id="exec-b")
    assert mine is not None and theirs is not None
    with process(["serve", "--port", str(port)], env, tmp_path / "serve.log", base):
        page = browser.new_page()
        page.goto(f"{base}/dashboard")
        expect(page.locator("#notice")).to_contain_text("Sign in", timeout=5000)
        expect(page.locator("#live")).to_have_attribute("data-state", "offline")
        page.fill("#token", "not-a-jwt")
        page.click("#signin button[type=submit]")
        expect(page.locator("#notice")).to_contain_text("invalid", timeout=5000)
        page.fill("#token", mint_token(SECRET, sub=str(user)))
        page.click("#signin button[type=submit]")
        expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator(f"#list-pending li[data-job='{mine['job_id']}']")).to_have_count(1)
        expect(page.locator("[data-stat='total']")).to_have_text("1")
        page.fill("#executor", "exec-b")
        page.click("#scope button")
        expect(page.locator("[data-stat='total']")).to_have_text("0", timeout=5000)
        expect(page.locator(f"li[data-job='{theirs['job_id']}']")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)


def test_cursor_paging_bulk_actions_with_a_stated_count_and_the_throughput_chart(
        browser: Browser, db_url: str, owner: Caller, tmp_path: Path) -> None:
    server = Dev(db_url, tmp_path)
    server.args = server.args[:-2]  # no worker: the jobs stay as seeded
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t.a" if i % 2 else "t.b", "executor_id": "default",
                                       "payload": {"name": f"job-{i}"}} for i in range(60)])
    for _ in range(5):
        row = owner.one("claim_one_job_v3", executor_id="default", worker_id="w-1")
        assert row is not None
        owner.rpc("fail_job_v1", job_id=row["id"], worker_id="w-1", error="boom", retryable=False)
    with server.running():
        page, errors = open_page(browser, f"{server.base}/dashboard")
        chart = page.locator("#throughput-chart svg[data-chart='throughput']")
        expect(chart).to_have_count(1)
        expect(chart.locator("g[data-minute]")).to_have_count(60)
        assert sum(int(v) for v in chart.locator("g[data-minute]").evaluate_all(
            "gs => gs.map(g => g.dataset.failed)")) == 5
        assert "5 failed" in (chart.get_attribute("aria-label") or "")

        # Cursor paging: 50, then the other 10, then back.
        listed = page.locator("#list-all li[data-job]")
        expect(listed).to_have_count(50)
        first = listed.evaluate_all("ls => ls.map(l => l.dataset.job)")
        api_first = [j["id"] for j in httpx.get(f"{server.base}/api/jobs").json()["jobs"]]
        assert first == api_first
        page.click("#next")
        expect(page.locator("#page")).to_have_text("page 2")
        expect(listed).to_have_count(10)
        second = listed.evaluate_all("ls => ls.map(l => l.dataset.job)")
        assert not set(first) & set(second)
        page.screenshot(path=str(tmp_path / "page-2.png"), full_page=True)
        page.click("#prev")
        expect(page.locator("#page")).to_have_text("page 1")
        expect(listed.first).to_have_attribute("data-job", first[0])

        # A selection: the dialog states the count; only those two are cancelled.
        pending = page.locator("#list-all li[data-status='pending']")
        chosen = [pending.nth(i).get_attribute("data-job") for i in (0, 1)]
        for i in (0, 1):
            pending.nth(i).locator("input.select").check()
        expect(page.locator("#selected-count")).to_have_text("2 selected")
        page.click("button[data-bulk='cancel'][data-bulk-scope='selection']")
        expect(page.locator("#confirm")).to_be_visible()
        expect(page.locator("#confirm-text")).to_contain_text("the 2 selected jobs")
        page.screenshot(path=str(tmp_path / "confirm-selection.png"), full_page=True)
        page.click("#confirm button[value='yes']")
        expect(page.locator("#bulk-result")).to_have_text("Cancel: 2 done.", timeout=5000)
        expect(page.locator("[data-stat='cancelled']")).to_have_text("2", timeout=5000)
        for job_id in chosen:
            assert httpx.get(f"{server.base}/api/jobs/{job_id}").json()["job"]["cancelled"] is True
        expect(page.locator("#selected-count")).to_have_text("0 selected")

        # Everything matching the filter (failed: 5 failed + 2 cancelled): dismissed first, then done.
        page.select_option("#f-status", "failed")
        page.click("#filter button[type=submit]")
        expect(listed).to_have_count(7, timeout=5000)
        page.click("button[data-bulk='retry'][data-bulk-scope='filter']")
        expect(page.locator("#confirm-text")).to_contain_text("all 7 jobs of default matching status failed")
        page.click("#confirm button[value='no']")
        expect(page.locator("#confirm")).to_be_hidden()
        assert httpx.get(f"{server.base}/api/jobs/stats").json()["stats"]["failed"] == 7
        page.click("button[data-bulk='retry'][data-bulk-scope='filter']")
        page.click("#confirm button[value='yes']")
        expect(page.locator("#bulk-result")).to_have_text("Retry: 7 done.", timeout=5000)
        expect(page.locator("[data-stat='failed']")).to_have_text("0", timeout=5000)
        expect(page.locator("[data-stat='pending']")).to_have_text("60")

        # A filter whose jobs refuse: retrying pending jobs is refused per job, politely.
        page.select_option("#f-status", "pending")
        page.fill("#f-type", "t.a")
        page.click("#filter button[type=submit]")
        page.click("button[data-bulk='retry'][data-bulk-scope='filter']")
        expect(page.locator("#confirm-text")).to_contain_text("all 30 jobs of default matching status pending, type t.a")
        page.click("#confirm button[value='yes']")
        expect(page.locator("#bulk-result")).to_have_text("Retry: 0 done, 30 refused (30 pending).", timeout=5000)
        page.screenshot(path=str(tmp_path / "bulk.png"), full_page=True)
        assert errors == []
