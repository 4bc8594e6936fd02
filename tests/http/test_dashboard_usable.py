"""The dashboard is usable, checked in a real browser (Chromium through Playwright, as
``test_dashboard_browser``), on both views (Jobs, and Workflows with a run waiting for
approval) filled with seeded data, in light and dark (``prefers-color-scheme``
emulation), at 1280 px and 390 px wide:

- **keyboard**: Tab from the top of the page reaches every visible, enabled control
  (links, buttons, inputs, selects, text areas), and each has an accessible name;
- **readable**: every visible piece of text (HTML and the graph's SVG labels) has a
  contrast ratio of at least 4.5 against the background it is painted on (WCAG 2's
  formula), and the scheme really switches (a light page in light, a dark one in dark);
- **fits**: no horizontal overflow of the page.

Screenshots of each combination are kept in the test's ``tmp_path``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from support import Caller
from test_dashboard_browser import Dev, browser, pytestmark  # noqa: F401 (fixture, marks)
from test_dashboard_seed_react import seed_jobs
from test_dashboard_workflows import WorkflowDev

CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea"

#: In the page: every visible text's colour and the background under it, and the ratio.
CONTRAST_JS = """() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3])).concat([1]);
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = (node) => {
    const layers = [];
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const visible = (n) => { const r = n.getBoundingClientRect(); const s = getComputedStyle(n);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && Number(s.opacity) > 0 && !n.closest("[hidden]"); };
  const out = [];
  for (const n of document.querySelectorAll("body *")) {
    if (!visible(n) || n.closest("dialog:not([open])") || n.disabled) continue;
    const own = [...n.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    if (!own) continue;
    let fg, bg;
    if (n instanceof SVGElement) {
      fg = parse(getComputedStyle(n).fill);
      const rect = n.closest("g") && n.closest("g").querySelector("rect");
      bg = rect ? over(parse(getComputedStyle(rect).fill), background(n.closest("svg"))) : background(n.closest("svg"));
    } else {
      fg = parse(getComputedStyle(n).color);
      bg = background(n);
    }
    if (!fg) continue;
    fg = over(fg, bg);
    out.push({ text: n.textContent.trim().slice(0, 40), tag: n.tagName, cls: String(n.className.baseVal ?? n.className),
               ratio: Math.round(ratio(fg, bg) * 100) / 100 });
  }
  const body = background(document.body);
  return { texts: out, bodyRatio: ratio(over(parse(getComputedStyle(document.body).color), body), body), bodyLum: lum(body) };
}"""


@pytest.fixture
def seeded(db_url: str, owner: Caller, tmp_path: Path) -> Iterator[tuple[WorkflowDev, str]]:
    """``collab dev`` (no worker) with jobs in every section and a workflow run waiting
    for approval: (the server, the run's id)."""
    server = WorkflowDev(db_url, tmp_path)
    server.args = server.args[:-2]
    seed_jobs(owner)
    with server.running():
        gated = server.published([{"id": "review", "type": "approval", "data": {}},
                                  {"id": "sign-off", "type": "approval", "data": {}}])
        yield server, server.start(gated)


def reached_by_tab(page: Page) -> tuple[list[str], set[int]]:
    """The visible, enabled controls (described), and the indices of those Tab reached."""
    controls: list[str] = page.evaluate(f"""() => [...document.querySelectorAll({CONTROLS!r})]
      .filter((n) => {{ const r = n.getBoundingClientRect(); return r.width > 0 && r.height > 0 && !n.disabled
                        && !n.closest("[hidden]") && !n.closest("dialog:not([open])"); }})
      .map((n, i) => {{ n.dataset.kbd = String(i); return (n.id || n.tagName) + ":" + n.textContent.trim().slice(0, 30); }})""")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.locator("body").focus()
    reached: set[int] = set()
    for _ in range(len(controls) + 15):
        page.keyboard.press("Tab")
        index = page.evaluate("document.activeElement && document.activeElement.dataset.kbd")
        if index is not None:
            reached.add(int(index))
    return controls, reached


def fits(page: Page, what: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{what} overflows by {overflow}px"


def keyboard_reaches_and_names_everything(page: Page, what: str, least: int = 8) -> None:
    controls, reached = reached_by_tab(page)
    assert len(controls) >= least, controls
    missed = [c for i, c in enumerate(controls) if i not in reached]
    assert missed == [], f"{what}: Tab never reaches {missed}"
    visible = page.locator(CONTROLS).locator("visible=true")
    for i in range(visible.count()):
        expect(visible.nth(i)).to_have_accessible_name(re.compile(r"\S"), timeout=1000)


def readable(page: Page, what: str, scheme: str, least: int = 30) -> None:
    colours: dict[str, Any] = page.evaluate(CONTRAST_JS)
    assert colours["bodyRatio"] >= 4.5, colours["bodyRatio"]
    assert (colours["bodyLum"] > 0.8) if scheme == "light" else (colours["bodyLum"] < 0.05), colours["bodyLum"]
    assert len(colours["texts"]) >= least, colours["texts"]
    low = [t for t in colours["texts"] if t["ratio"] < 4.5]
    assert low == [], f"{what} ({scheme}): text below 4.5:1: {low}"


def check(page: Page, label: str, scheme: str, width: int, shots: Path) -> None:
    page.screenshot(path=str(shots / f"{label}-{scheme}-{width}.png"), full_page=True)
    what = f"{label} at {width}px ({scheme})"
    fits(page, what)
    keyboard_reaches_and_names_everything(page, what)
    readable(page, what, scheme)


def test_the_checks_catch_a_page_that_fails_them(browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 600})
    good = '<body style="background:#fff;color:#111"><p>fine</p><button>ok</button><label>n <input></label>'
    page.set_content(good + "</body>")
    fits(page, "good")
    keyboard_reaches_and_names_everything(page, "good", least=2)
    readable(page, "good", "light", least=2)
    with pytest.raises(AssertionError, match="overflows"):
        page.set_content(good + '<div style="width:900px">wide</div></body>')
        fits(page, "wide")
    with pytest.raises(AssertionError, match="never reaches"):
        page.set_content(good + '<button tabindex="-1">skipped</button></body>')
        keyboard_reaches_and_names_everything(page, "skipped", least=2)
    with pytest.raises(AssertionError):
        page.set_content(good + '<button><svg width="10" height="10"></svg></button></body>')
        keyboard_reaches_and_names_everything(page, "unnamed", least=2)
    with pytest.raises(AssertionError, match="below 4.5"):
        page.set_content(good + '<p style="color:#999">faint</p></body>')
        readable(page, "faint", "light", least=2)
    with pytest.raises(AssertionError):
        readable(page, "not dark", "dark", least=2)
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_control_is_reachable_labelled_readable_and_fits(browser: Browser, seeded: tuple[WorkflowDev, str],
                                                               scheme: str, tmp_path: Path) -> None:
    server, run_id = seeded
    for width in (1280, 390):
        context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 900})  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(f"{server.base}/dashboard")
        expect(page.locator("body[data-loaded]")).to_have_count(1, timeout=10_000)
        expect(page.locator("#list-failed li[data-job]")).to_have_count(1)
        check(page, "jobs", scheme, width, tmp_path)

        page.goto(f"{server.base}/dashboard#workflows/{run_id}")
        expect(page.locator("#wf-steps tr[data-status='waiting']")).to_have_count(1, timeout=5000)
        expect(page.locator(f"#wf-runs li[data-run='{run_id}']")).to_have_count(1)
        check(page, "workflows", scheme, width, tmp_path)
        context.close()
