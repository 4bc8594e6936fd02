// collab's queue dashboard: plain JavaScript, no build step, nothing from a CDN.
// Live from the executor's gapless event stream (fetch + SSE framing, so the token goes
// in a header); never a polling loop. See collab_sdk/http/dashboard/__init__.py.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const TOKEN_KEY = "collab.dashboard.token";
  const PAGE = 50;
  const state = {
    config: null, executor: "", token: sessionStorage.getItem(TOKEN_KEY) || "",
    seq: 0, generation: 0, abort: null, refreshing: false, dirty: false, timer: null,
    // The job list pages by cursor: `cursor` is the current page's (null: the first),
    // `cursors` those of the pages before it (Previous pops one), `nextCursor` the next's.
    cursor: null, cursors: [], nextCursor: null, selected: new Set(), overviewAt: 0, overviewTimer: null,
    // The last answers, kept so that a refresh re-reads only what an event touched.
    touched: new Set(), lists: { claimed: [], pending: [], completed: [], failed: [] },
    dlq: { items: [] }, stats: null,
    filter: { status: "", type: "" }, detail: null, workers: [], jobs: {},
    // For tests and the curious: what the page has done.
    counters: { refreshes: 0, connects: 0, events: 0 },
  };
  window.collabDashboard = state;

  // -- HTTP -------------------------------------------------------------------------
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (state.token) h["Authorization"] = "Bearer " + state.token;
    return h;
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body) {
    const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText);
    }
    return data;
  }

  const q = (params) => {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) s.set(k, v);
    return s.toString();
  };

  // -- notices ----------------------------------------------------------------------
  function notice(text) {
    const el = $("#notice");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function refused(err) {
    if (err instanceof ApiError && err.status === 401) {
      notice(state.config && state.config.devIdentity
        ? "That token was refused (" + err.code + "). Sign out to use the development identity."
        : "Sign in: paste a token (" + err.code + ").");
      return true;
    }
    if (err instanceof ApiError && (err.status === 403 || err.status === 409 || err.status === 404)) {
      notice("Refused: " + err.message + " (" + err.code + ")");
      return true;
    }
    return false;
  }

  async function act(fn) {
    try { await fn(); notice(""); } catch (err) { if (!refused(err)) notice("Failed: " + err.message); }
    refreshSoon();
  }

  // -- rendering --------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "onclick") node.addEventListener("click", v);
      else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function ago(iso) {
    if (!iso) return "";
    const s = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    return Math.floor(s / 3600) + "h ago";
  }
  const since = (iso) => el("span", { class: "meta", "data-since": iso }, ago(iso));
  const name = (job) => (job.payload && typeof job.payload.name === "string" ? job.payload.name : job.type);

  function card(job, ...extras) {
    state.jobs[job.id] = job;
    return el("li", { "data-job": job.id, "data-status": job.status },
      el("div", { class: "job-main" },
        el("div", { class: "job-name" }, name(job)),
        el("button", { type: "button", class: "job-id", "aria-label": "details of job " + job.id,
                       onclick: () => openDetail(job.id) }, job.id)),
      ...extras);
  }

  function button(label, cls, onclick, jobId) {
    return el("button", { type: "button", class: "small " + (cls || ""), onclick,
                          "aria-label": jobId ? label + " job " + jobId : label }, label);
  }

  function fill(list, items, empty, render) {
    const node = $(list);
    node.replaceChildren(...(items.length ? items.map(render) : [el("li", { class: "empty" }, empty)]));
  }

  function renderStats(stats, dlqSize) {
    for (const key of ["pending", "claimed", "completed", "failed", "total", "cancelled"]) {
      document.querySelector(`[data-stat="${key}"]`).textContent = String(stats[key]);
      const badge = document.querySelector(`[data-count="${key}"]`);
      if (badge) badge.textContent = String(stats[key]);
    }
    document.querySelector('[data-stat="dlq"]').textContent = String(dlqSize);
    document.querySelector('[data-count="dlq"]').textContent = String(dlqSize);
  }

  function ms(p) {
    const f = (v) => (v === null || v === undefined ? "–" : v < 1000 ? Math.round(v) + " ms" : (v / 1000).toFixed(1) + " s");
    return f(p.p50) + " / " + f(p.p95);
  }

  function renderMetrics(m) {
    const set = (k, v) => { document.querySelector(`[data-metric="${k}"]`).textContent = v; };
    set("last1m", String(m.finished.last1m));
    set("last5m", String(m.finished.last5m));
    set("last60m", String(m.finished.last60m));
    set("wait", ms(m.queueWaitMs));
    set("run", ms(m.runTimeMs));
    set("workers", String(m.activeWorkers));
  }

  function renderSections(claimed, pending, completed, failed) {
    fill("#list-claimed", claimed, "No jobs being processed right now.", (job) => card(job,
      el("span", { class: "meta claimed" }, "Worker: " + (job.lockedBy || "?")),
      job.claimedAt ? el("span", { class: "meta" }, "Started ", since(job.claimedAt)) : null,
      button("Cancel", "danger", () => act(() => api("POST", `/api/collab/job/${job.id}/cancel`, {})), job.id)));
    fill("#list-pending", pending, "Queue is empty.", (job) => card(job,
      el("span", { class: "meta pending" }, "Position #" + (pending.indexOf(job) + 1)),
      el("span", { class: "meta" }, "Created ", since(job.createdAt)),
      button("Cancel", "warn", () => act(() => api("POST", `/api/collab/job/${job.id}/cancel`, {})), job.id),
      button("Remove", "danger", () => act(() => api("DELETE", `/api/jobs/${job.id}${scope()}`)), job.id)));
    fill("#list-completed", completed, "No completed jobs yet.", (job) => card(job,
      el("span", { class: "meta" }, "Took " + job.attempts + " attempt" + (job.attempts !== 1 ? "s" : "")),
      job.completedAt ? el("span", { class: "meta" }, "Finished ", since(job.completedAt)) : null));
    fill("#list-failed", failed, "No failed jobs.", (job) => card(job,
      el("span", { class: "meta error", title: job.lastError || "" }, (job.cancelled ? "cancelled: " : "") + (job.lastError || "")),
      button("Retry", "warn", () => act(() => api("POST", `/api/jobs/${job.id}/retry${scope()}`)), job.id)));
  }

  function renderDlq(page) {
    const open = page.items.filter((d) => !d.retriedAt);
    fill("#list-dlq", open, "No dead letters.", (d) => el("li", { "data-dlq": d.id },
      el("div", { class: "job-main" }, el("div", { class: "job-name" }, d.type),
        d.jobId ? el("button", { type: "button", class: "job-id", onclick: () => openDetail(d.jobId) }, d.jobId) : null),
      el("span", { class: "meta error", title: d.lastError || "" }, d.lastError || d.reason || ""),
      button("Retry", "warn", () => act(() => api("POST", "/api/collab/dlq/retry", { dlqId: d.id })), d.id)));
    return open.length;
  }

  function renderWorkers(items) {
    state.workers = items;
    document.querySelector('[data-count="workers"]').textContent = String(items.length);
    fill("#list-workers", items, "No active workers.", (w) => el("li", { "data-worker": w.workerId },
      el("div", { class: "job-main" }, el("div", { class: "job-name" }, w.workerId),
        el("span", { class: "meta" }, (w.version ? "v" + w.version + " · " : "") + w.status)),
      el("span", { class: "meta" }, "running " + w.running + " / " + w.capacity),
      el("span", { class: "meta" }, "seen ", since(w.lastSeenAt))));
  }

  function renderAll(page) {
    fill("#list-all", page.jobs, "No jobs match.", (job) => {
      const box = el("input", { type: "checkbox", class: "select", "aria-label": "select job " + job.id });
      box.checked = state.selected.has(job.id);
      box.addEventListener("change", () => {
        if (box.checked) state.selected.add(job.id); else state.selected.delete(job.id);
        renderSelection();
      });
      const item = card(job,
        el("span", { class: "meta " + job.status }, job.cancelled ? "cancelled" : job.status),
        el("span", { class: "meta" }, "Created ", since(job.createdAt)));
      item.prepend(box);
      return item;
    });
    state.nextCursor = page.nextCursor;
    $("#page").textContent = "page " + (state.cursors.length + 1);
    $("#prev").disabled = state.cursors.length === 0;
    $("#next").disabled = !page.nextCursor;
    renderSelection();
  }

  function renderSelection() {
    const n = state.selected.size;
    $("#selected-count").textContent = n + " selected";
    for (const b of document.querySelectorAll("[data-bulk-scope='selection']")) b.disabled = n === 0;
  }

  // -- the throughput chart: inline SVG, drawn here (no library) -----------------------
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) node.append(c);
    return node;
  }

  function renderThroughput(items) {
    const W = 600, H = 140, top = 14, bottom = 18, left = 30;
    const max = Math.max(1, ...items.map((m) => m.succeeded + m.failed));
    const step = (W - left) / Math.max(1, items.length);
    const y = (v) => (H - bottom) - (v / max) * (H - bottom - top);
    const total = (k) => items.reduce((a, m) => a + m[k], 0);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", width: "100%", "data-chart": "throughput",
      "aria-label": `Jobs per minute over the last ${items.length} minutes: ${total("succeeded")} succeeded, ${total("failed")} failed` });
    // CSSOM styles (allowed by the page's CSP, unlike style attributes) take the theme's colours.
    const paint = (node, prop, value) => { node.style[prop] = value; return node; };
    const axis = paint(svg("g", { "font-size": 10 }), "fill", "var(--muted)");
    axis.append(svg("text", { x: 0, y: top }, String(max)), svg("text", { x: 0, y: H - bottom }, "0"),
      svg("text", { x: left, y: H - 4 }, "-" + items.length + " min"),
      svg("text", { x: W, y: H - 4, "text-anchor": "end" }, "now"));
    axis.append(paint(svg("line", { x1: left, x2: W, y1: H - bottom, y2: H - bottom }), "stroke", "var(--line)"));
    chart.append(axis);
    items.forEach((m, i) => {
      const x = left + i * step + step * 0.1, w = step * 0.8;
      const when = new Date(m.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const g = svg("g", { "data-minute": m.minute, "data-succeeded": m.succeeded, "data-failed": m.failed },
        svg("title", {}, `${when}: ${m.succeeded} succeeded, ${m.failed} failed`));
      if (m.succeeded) g.append(paint(svg("rect", { x, width: w, y: y(m.succeeded), height: y(0) - y(m.succeeded) }),
        "fill", "var(--completed)"));
      if (m.failed) g.append(paint(svg("rect", { x, width: w, y: y(m.succeeded + m.failed),
        height: y(m.succeeded) - y(m.succeeded + m.failed) }), "fill", "var(--failed)"));
      chart.append(g);
    });
    $("#throughput-chart").replaceChildren(chart);
  }

  // -- loading ----------------------------------------------------------------------
  function firstPage() {
    state.cursor = null;
    state.cursors = [];
    state.selected.clear();
  }

  const scope = () => "?" + q({ executorId: state.executor });

  // What an event can change: the seed's sections (and the dead letters) its transition
  // leaves and enters. The counts and the filtered list are re-read on every transition.
  const TOUCHES = {
    queued: ["pending"], claimed: ["claimed", "pending"], succeeded: ["claimed", "completed"],
    failed: ["claimed", "failed", "dlq"], retry_scheduled: ["claimed", "pending"],
    cancelled: ["pending", "claimed", "failed"], retried: ["pending", "completed", "failed", "dlq"],
  };
  const SECTIONS = { claimed: 50, pending: 50, completed: 20, failed: 20 };
  const EVERYTHING = ["claimed", "pending", "completed", "failed", "dlq", "counts"];

  // Mark what the next refresh re-reads (everything when the cause is not one event).
  function touch(parts) { for (const p of parts) state.touched.add(p); }

  async function refresh() {
    if (state.refreshing) { state.dirty = true; return; }
    state.refreshing = true;
    state.counters.refreshes += 1;
    const ex = state.executor;
    const touched = state.touched;
    state.touched = new Set();
    try {
      const reads = {};
      for (const [status, limit] of Object.entries(SECTIONS))
        if (touched.has(status)) reads[status] = api("GET", "/api/jobs?" + q({ executorId: ex, status, limit }));
      if (touched.has("dlq"))
        reads.dlq = api("GET", "/api/collab/dlq?" + q({ executorId: ex, limit: 50, includeRetried: "false" }));
      if (touched.has("counts")) {
        reads.stats = api("GET", "/api/jobs/stats" + scope());
        reads.all = api("GET", "/api/jobs?" + q({ executorId: ex, status: state.filter.status, type: state.filter.type,
                                                  limit: PAGE, cursor: state.cursor }));
      }
      const names = Object.keys(reads);
      const got = Object.fromEntries((await Promise.all(Object.values(reads))).map((v, i) => [names[i], v]));
      if (ex !== state.executor) return;
      for (const status of Object.keys(SECTIONS)) if (got[status]) state.lists[status] = got[status].jobs;
      if (got.dlq) state.dlq = got.dlq;
      state.jobs = {};
      renderSections(state.lists.claimed, state.lists.pending, state.lists.completed, state.lists.failed);
      if (got.stats) state.stats = got.stats.stats;
      renderStats(state.stats, renderDlq(state.dlq));
      if (got.all) renderAll(got.all);
      document.body.dataset.loaded = "1";
      overviewSoon();
      if (state.detail) await loadDetail(state.detail);
    } catch (err) {
      touch(touched);  // read again next time
      if (!refused(err)) notice("Cannot reach the API: " + err.message);
    } finally {
      state.refreshing = false;
      if (state.dirty) { state.dirty = false; refreshSoon([]); }
    }
  }

  // Refresh soon (coalesced: a burst of events is one refresh): what `parts` names, or
  // everything when it is not given.
  function refreshSoon(parts) {
    touch(parts || EVERYTHING);
    if (state.timer) return;
    state.timer = setTimeout(() => { state.timer = null; refresh(); }, 60);
  }

  // The overview (metrics, throughput per minute, workers) changes slowly: events refresh
  // it at most once per OVERVIEW_MS (at once after a quiet spell, else when the interval
  // ends), so a busy queue watched by many pages costs the server 7 reads per event
  // instead of 10. Still no timer while nothing happens.
  const OVERVIEW_MS = 3000;
  async function refreshOverview() {
    const ex = state.executor;
    try {
      const [workers, metrics, throughput] = await Promise.all([
        api("GET", "/api/collab/workers/active?" + q({ executorId: ex })),
        api("GET", "/api/collab/metrics/overview?" + q({ executorId: ex })),
        api("GET", "/api/collab/metrics/throughput?" + q({ executorId: ex, minutes: 60 })),
      ]);
      if (ex !== state.executor) return;
      renderWorkers(workers.items);
      renderMetrics(metrics);
      renderThroughput(throughput.items);
    } catch (err) {
      if (!refused(err)) notice("Cannot reach the API: " + err.message);
    }
  }

  function overviewSoon() {
    if (state.overviewTimer) return;
    const wait = Math.max(0, state.overviewAt + OVERVIEW_MS - Date.now());
    state.overviewTimer = setTimeout(() => {
      state.overviewTimer = null;
      state.overviewAt = Date.now();
      refreshOverview();
    }, wait);
  }

  // -- bulk actions: a selection, or everything matching the list's filter --------------
  const VERBS = { retry: "Retry", cancel: "Cancel", delete: "Delete" };

  // How many jobs the filter matches now (the kept counts: exact and cheap).
  async function matching() {
    const stats = (await api("GET", "/api/jobs/stats?" + q({ executorId: state.executor, type: state.filter.type }))).stats;
    return state.filter.status ? stats[state.filter.status] : stats.total;
  }

  function describeFilter() {
    const parts = [];
    if (state.filter.status) parts.push("status " + state.filter.status);
    if (state.filter.type) parts.push("type " + state.filter.type);
    return parts.length ? " matching " + parts.join(", ") : "";
  }

  // The page's own confirmation (a <dialog>): resolves true on Confirm.
  function confirmDialog(text) {
    const dialog = $("#confirm");
    $("#confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true }));
  }

  function bulkSummary(action, r) {
    const refused = Object.entries(r.refusedByStatus).map(([k, v]) => v + " " + k).join(", ");
    return VERBS[action] + ": " + r.done + " done" + (r.refused ? ", " + r.refused + " refused (" + refused + ")" : "")
      + (r.notFound ? ", " + r.notFound + " not found" : "") + ".";
  }

  async function bulk(action, scope) {
    const selection = scope === "selection" ? [...state.selected] : null;
    const count = selection ? selection.length : await matching();
    const what = selection ? `the ${count} selected job${count === 1 ? "" : "s"}`
      : `all ${count} job${count === 1 ? "" : "s"} of ${state.executor}${describeFilter()}`;
    if (!(await confirmDialog(`${VERBS[action]} ${what}? Jobs whose state forbids it are left as they are.`))) return;
    const body = { action, executorId: state.executor };
    if (selection) body.ids = selection;
    else { if (state.filter.status) body.status = state.filter.status; if (state.filter.type) body.type = state.filter.type; }
    const r = await api("POST", "/api/jobs/bulk", body);
    if (selection) state.selected.clear();
    $("#bulk-result").textContent = bulkSummary(action, r);
  }

  // -- the job detail -----------------------------------------------------------------
  async function openDetail(id) {
    state.detail = id;
    const dialog = $("#detail");
    if (!dialog.open) dialog.showModal();
    try { await loadDetail(id); } catch (err) { if (!refused(err)) notice(err.message); }
  }

  async function loadDetail(id) {
    const s = await api("GET", `/api/collab/job/${id}/summary`);
    if (state.detail !== id) return;
    const job = s.job;
    $("#d-title").textContent = (job.payload && job.payload.name) || job.type;
    const fields = [["id", job.id], ["type", job.type], ["executor", job.executorId], ["status", job.status],
      ["attempts", job.attempts + " / " + job.maxAttempts], ["priority", job.priority],
      ["lease holder", job.leaseOwner || "–"], ["lease expires", job.leaseUntil || "–"],
      ["created", job.createdAt], ["started", job.startedAt || "–"], ["finished", job.finishedAt || "–"],
      ["error", job.lastError || "–"]];
    $("#d-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k }, String(v))]));
    $("#d-payload").textContent = JSON.stringify(job.payload, null, 2);
    $("#d-result").textContent = job.result === null || job.result === undefined ? "–" : JSON.stringify(job.result, null, 2);
    const actions = [];
    if (["failed", "succeeded", "cancelled"].includes(job.status))
      actions.push(button("Retry", "warn", () => act(() => api("POST", `/api/collab/job/${id}/retry`))));
    if (["queued", "running"].includes(job.status))
      actions.push(button("Cancel", "danger", () => act(() => api("POST", `/api/collab/job/${id}/cancel`, {}))));
    if (job.status !== "running")
      actions.push(button("Delete", "danger", () => act(async () => {
        if (!window.confirm("Delete job " + id + "?")) return;
        await api("DELETE", `/api/collab/job/${id}`);
        $("#detail").close();
      })));
    $("#d-actions").replaceChildren(...actions);
    $("#d-artifacts").replaceChildren(...(s.artifacts.length ? s.artifacts.map((a) => el("li", {},
      el("span", {}, a.name + (a.size !== null && a.size !== undefined ? " (" + a.size + " B) " : " ")),
      button("Download", "", () => act(async () => {
        const signed = await api("GET", "/api/collab/artifacts/sign?" + q({ bucket: a.bucket, path: a.path, expires: 300 }));
        window.open(signed.signedUrl, "_blank", "noopener");
      })))) : [el("li", { class: "meta" }, "none")]));
    $("#d-events").replaceChildren(...s.events.map((e) => el("li", { "data-seq": e.seq },
      el("span", { class: "meta" }, "#" + e.seq + " " + new Date(e.createdAt).toLocaleTimeString() + " "),
      el("strong", {}, e.eventType), Object.keys(e.payload || {}).length ? " " + JSON.stringify(e.payload) : "")));
  }

  // -- live -------------------------------------------------------------------------
  function setLive(kind, text) {
    const node = $("#live");
    node.dataset.state = kind;
    node.textContent = text;
  }

  function handleBlock(block) {
    let id = null, kind = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") kind = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
    }
    if (kind === "message" && data) {
      const event = JSON.parse(data);
      state.seq = Math.max(state.seq, Number(id || event.seq));
      state.counters.events += 1;
      // A transition re-reads the counts and the sections it touches; another event
      // (progress, a log line) only the open detail.
      const parts = TOUCHES[event.eventType];
      refreshSoon(parts ? [...parts, "counts"] : []);
      return "event";
    }
    if (kind === "error") notice("The event stream failed: " + data);
    return kind;
  }

  async function follow(generation) {
    let backoff = 500;
    while (generation === state.generation) {
      const ctrl = new AbortController();
      state.abort = ctrl;
      try {
        const path = "/api/collab/events/stream?" + q({ executorId: state.executor, since: state.seq, timeout: 300 });
        const res = await fetch(path, { headers: headers({ "Last-Event-ID": String(state.seq), Accept: "text/event-stream" }),
                                        signal: ctrl.signal, cache: "no-store" });
        if (!res.ok) {
          let err = {};
          try { err = (await res.json()).error || {}; } catch (e) { /* not JSON */ }
          throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText);
        }
        state.counters.connects += 1;
        setLive("live", "live · seq " + state.seq);
        if (state.counters.connects > 1) refreshSoon();  // the gap's events are replayed too
        backoff = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            if (handleBlock(block) === "event") setLive("live", "live · seq " + state.seq);
          }
        }
      } catch (err) {
        if (generation !== state.generation) return;
        if (err instanceof ApiError && err.status === 401) { refused(err); setLive("offline", "signed out"); return; }
      }
      if (generation !== state.generation) return;
      setLive("offline", "reconnecting…");
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  async function start() {
    if (!state.config) return;  // configure() starts once the config has arrived
    state.generation += 1;
    const generation = state.generation;
    if (state.abort) state.abort.abort();
    setLive("connecting", "connecting…");
    $("#signout").hidden = !state.token;
    try {
      // The head first, then the load: every event after the head is streamed, so a
      // change that commits while the page loads is never lost.
      state.seq = (await api("GET", "/dashboard/api/events/head")).seq;
    } catch (err) {
      if (!refused(err)) notice("Cannot reach the API: " + err.message);
      setLive("offline", "offline");
      return;
    }
    state.overviewAt = 0;  // another executor or token: its overview at once
    touch(EVERYTHING);
    await refresh();
    follow(generation);
  }

  // -- wiring -----------------------------------------------------------------------
  // Every control is wired before the first await: a form submitted while the config is
  // still loading must never fall through to the browser's own GET (the token would land
  // in the URL, the server's log and the history). start() waits for the config itself.
  function main() {
    $("#scope").addEventListener("submit", (e) => {
      e.preventDefault();
      state.executor = $("#executor").value.trim();
      firstPage();
      start();
    });
    $("#signin").addEventListener("submit", (e) => {
      e.preventDefault();
      state.token = $("#token").value.trim();
      $("#token").value = "";
      if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token); else sessionStorage.removeItem(TOKEN_KEY);
      notice("");
      start();
    });
    $("#signout").addEventListener("click", () => {
      state.token = "";
      sessionStorage.removeItem(TOKEN_KEY);
      notice("");
      start();
    });
    $("#purge").addEventListener("click", () => act(async () => {
      const n = document.querySelector('[data-stat="completed"]').textContent;
      if (!window.confirm("Purge all " + n + " completed jobs of " + state.executor + "?")) return;
      await api("DELETE", "/api/jobs" + scope());
    }));
    $("#filter").addEventListener("submit", (e) => {
      e.preventDefault();
      const id = $("#f-id").value.trim();
      if (id) { openDetail(id); return; }
      state.filter = { status: $("#f-status").value, type: $("#f-type").value.trim() };
      firstPage();
      refreshSoon();
    });
    $("#prev").addEventListener("click", () => { state.cursor = state.cursors.pop() || null; refreshSoon(); });
    $("#next").addEventListener("click", () => {
      if (!state.nextCursor) return;
      state.cursors.push(state.cursor);
      state.cursor = state.nextCursor;
      refreshSoon();
    });
    for (const b of document.querySelectorAll("[data-bulk]"))
      b.addEventListener("click", () => act(() => bulk(b.dataset.bulk, b.dataset.bulkScope)));
    $("#detail").addEventListener("close", () => { state.detail = null; });
    // Relative times tick locally (no request): "Started 12s ago" stays true.
    setInterval(() => {
      for (const node of document.querySelectorAll("[data-since]")) node.textContent = ago(node.dataset.since);
    }, 1000);
    configure();
  }

  async function configure() {
    state.config = await (await fetch("/dashboard/config.json")).json();
    const params = new URLSearchParams(location.search);
    // An executor typed while the config was loading wins over the defaults.
    state.executor = state.executor || params.get("executor") || state.config.executorId;
    $("#executor").value = state.executor;
    if (!state.token && !state.config.devIdentity) notice("Sign in: paste a token (a Supabase session's access token).");
    start();
  }

  state.lib = { api, el, ago, notice, refused };  // for workflows.js (the Workflows view)
  document.addEventListener("DOMContentLoaded", main);
})();
