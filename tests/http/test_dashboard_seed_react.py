"""The seed's own React dashboard component against ``collab dev``, in a real browser.

``seed_dashboard/QueueDashboard.tsx`` is the component of ``worker-queue-api.md``
("Building a Queue Dashboard UI"), copied verbatim (a test checks it still equals the
seed's block when the seed is beside the repository, in ``../shared/seeds/``). The harness
changes exactly one thing, as the seed tells its readers to: the ``API`` constant, by
string replacement of its line, to ``collab dev``'s ``/api/jobs``. It then bundles the
component with React and ReactDOM from ``node_modules`` (esbuild; all three are
``package.json`` devDependencies, which ``./dev test`` installs) under a four-line entry
that renders it, and serves the page from a second loopback port — the seed's own set-up
(the dashboard on one port, the API on another, so CORS is exercised: its DELETEs are
preflighted). Nothing comes from a CDN. Tailwind is not loaded: the classes style
nothing, and the test reads the component's text and buttons.

The test seeds jobs in every status through the RPCs, then checks the component's counts
and sections in Chromium (it polls every 2 s, as written) and that its Retry, Remove and
Purge buttons act on the database. Skipped, saying why, where Playwright, Chromium or the
npm packages are missing."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from http_support import free_port
from support import Caller
from test_dashboard_browser import Dev, browser, pytestmark as browser_marks  # noqa: F401 (fixture)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
COMPONENT = HERE / "seed_dashboard" / "QueueDashboard.tsx"
SEED = ROOT.parent / "shared" / "seeds" / "worker-queue-api.md"
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
#: The component's one line the harness replaces (the seed's own advice for another host).
API_LINE = 'const API = "http://localhost:3002/api/jobs";'
ENTRY = """import { createRoot } from "react-dom/client";
import QueueDashboard from "./QueueDashboard";

createRoot(document.getElementById("root")!).render(<QueueDashboard />);
"""
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The seed's queue dashboard</title><link rel="icon" href="data:,"></head>
<body><div id="root"></div><script src="app.js"></script></body></html>
"""

needs_npm = pytest.mark.skipif(
    not ESBUILD.exists() or not (ROOT / "node_modules" / "react-dom").is_dir(),
    reason="esbuild, react and react-dom are not in node_modules (./dev test runs npm install)")
pytestmark = [*browser_marks, needs_npm]


def seed_block() -> str:
    """The seed's dashboard component, as its markdown has it."""
    text = SEED.read_text()
    part = text.split("### The Dashboard Component", 1)[1]
    match = re.search(r"```tsx\n(.*?)```", part, re.S)
    assert match is not None, "the seed has no tsx block under 'The Dashboard Component'"
    return match.group(1)


def test_the_fixture_is_the_seeds_component_unchanged() -> None:
    if not SEED.exists():
        pytest.skip(f"the seed is not beside the repository ({SEED})")
    assert COMPONENT.read_text() == seed_block()


def build(api: str, out: Path) -> Path:
    """The component with ``API`` = ``api``, bundled with React into ``out/app.js``, and
    its page ``out/index.html``; ``out``."""
    source = COMPONENT.read_text()
    assert source.count(API_LINE) == 1, "the component's API line changed"
    out.mkdir()
    (out / "QueueDashboard.tsx").write_text(source.replace(API_LINE, f"const API = {json.dumps(api)};"))
    (out / "entry.tsx").write_text(ENTRY)
    (out / "index.html").write_text(PAGE)
    subprocess.run([str(ESBUILD), str(out / "entry.tsx"), "--bundle", "--jsx=automatic", "--log-level=error",
                    "--define:process.env.NODE_ENV=\"production\"", f"--outfile={out / 'app.js'}"],
                   check=True, env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")}, timeout=120)
    return out


class QuietHandler(SimpleHTTPRequestHandler):
    """Static files, without a log line per request."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static server for the built page on its own loopback port: (its folder, its URL)."""
    folder = tmp_path / "page"
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{port}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


def seed_jobs(owner: Caller) -> dict[str, Any]:
    """One claimed, one completed, one failed and two pending ``claude_extraction`` jobs of
    executor ``default``: their ids by role."""
    def assign(*names: str) -> list[str]:
        rows = owner.rpc("assign_jobs_v1", jobs=[{"type": "claude_extraction", "executor_id": "default",
                                                 "max_attempts": 1, "payload": {"name": n}} for n in names])
        return [str(r["job_id"]) for r in rows]

    running = assign("seed-running", "seed-done", "seed-broken")
    claimed = owner.rpc("claim_jobs_v1", executor_id="default", worker_id="w-seed", max_jobs=3, lease_seconds=600)
    assert sorted(str(c["id"]) for c in claimed) == sorted(running)
    owner.rpc("complete_job_v1", job_id=running[1], worker_id="w-seed", result={"ok": True})
    owner.rpc("fail_job_v1", job_id=running[2], worker_id="w-seed", error="the model timed out", retryable=False)
    pending = assign("seed-next-1", "seed-next-2")
    return {"claimed": running[0], "completed": running[1], "failed": running[2], "pending": pending}


def new_page(browser: Browser) -> tuple[Page, list[str]]:
    """A new page at 1280 px, and the console errors it will log."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def stat(page: Page, label: str) -> Any:
    """The stats bar's number under ``label``."""
    return page.locator("div.rounded-lg", has=page.locator("div.text-sm", has_text=re.compile(f"^{label}$"))) \
        .locator("div.text-3xl")


def section(page: Page, title: str) -> Any:
    """The component's section headed ``title``."""
    return page.locator("div.mb-8", has=page.locator("h2", has_text=re.compile(f"^{re.escape(title)}$")))


def card(page: Page, title: str, job_id: str) -> Any:
    return section(page, title).locator("div.bg-gray-900", has_text=job_id)


def test_the_seeds_react_dashboard_works_unchanged_against_collab_dev(
        browser: Browser, db_url: str, owner: Caller, tmp_path: Path,
        page_server: tuple[Path, str]) -> None:
    dev = Dev(db_url, tmp_path)
    dev.args = dev.args[:-2]  # no worker: the seeded jobs keep their statuses
    ids = seed_jobs(owner)
    folder, url = page_server
    build(f"{dev.base}/api/jobs", folder)
    with dev.running():
        p, errors = new_page(browser)
        p.goto(url)
        expect(p.get_by_role("heading", name="Queue Dashboard")).to_be_visible(timeout=10_000)
        for label, n in [("Pending", 2), ("Active", 1), ("Completed", 1), ("Failed", 1), ("Total", 5)]:
            expect(stat(p, label)).to_have_text(str(n), timeout=5000)
        expect(section(p, "Currently Processing").locator("span.rounded-full")).to_have_text("1")
        expect(card(p, "Currently Processing", ids["claimed"])).to_contain_text("Worker: w-seed")
        expect(card(p, "Currently Processing", ids["claimed"])).to_contain_text("seed-running")
        expect(card(p, "Up Next (Pending)", ids["pending"][0])).to_contain_text("Position #1")
        expect(card(p, "Up Next (Pending)", ids["pending"][1])).to_contain_text("Position #2")
        expect(card(p, "Completed", ids["completed"])).to_contain_text("Took 1 attempt")
        expect(card(p, "Failed", ids["failed"])).to_contain_text("the model timed out")
        p.screenshot(path=str(tmp_path / "seed-dashboard.png"), full_page=True)

        card(p, "Failed", ids["failed"]).get_by_role("button", name="Retry").click()
        # Back in the queue, first: the seed's order is priority, then creation.
        expect(card(p, "Up Next (Pending)", ids["failed"])).to_contain_text("Position #1", timeout=5000)
        expect(card(p, "Up Next (Pending)", ids["pending"][1])).to_contain_text("Position #3")
        retried = httpx.get(f"{dev.base}/api/jobs/{ids['failed']}").json()["job"]
        assert (retried["status"], retried["attempts"]) == ("pending", 0)
        expect(stat(p, "Failed")).to_have_text("0")
        expect(section(p, "Failed")).to_contain_text("No failed jobs.")

        card(p, "Up Next (Pending)", ids["pending"][0]).get_by_role("button", name="Remove").click()
        expect(card(p, "Up Next (Pending)", ids["pending"][0])).to_have_count(0, timeout=5000)
        assert httpx.get(f"{dev.base}/api/jobs/{ids['pending'][0]}").status_code == 404
        expect(stat(p, "Total")).to_have_text("4")

        section(p, "Completed").get_by_role("button", name="Purge all").click()
        expect(section(p, "Completed")).to_contain_text("No completed jobs yet.", timeout=5000)
        expect(stat(p, "Completed")).to_have_text("0")
        assert httpx.get(f"{dev.base}/api/jobs", params={"status": "completed"}).json()["count"] == 0
        assert httpx.get(f"{dev.base}/api/jobs/{ids['completed']}").status_code == 404
        expect(p.get_by_text("Cannot reach API")).to_have_count(0)
        p.screenshot(path=str(tmp_path / "seed-dashboard-after.png"), full_page=True)
        assert errors == []
