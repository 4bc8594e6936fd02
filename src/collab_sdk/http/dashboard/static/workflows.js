// collab's dashboard, Workflows view (#workflows): the executor's runs, and one run's
// graph drawn as inline SVG with live step statuses from WS /ws/runs/{run_id} (the
// snapshot first, then each event once, in seq order), with Approve (a waiting approval
// step, with data), Cancel and Retry. Plain JavaScript, nothing from a CDN; it reuses the
// jobs view's helpers (window.collabDashboard.lib: api, el, ago, notice, refused) and its
// token and executor. See docs/dashboard.md.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const SVG = "http://www.w3.org/2000/svg";
  const ACTIVE_RUN = ["pending", "running", "paused"];
  const PAGE = 20;
  // Node boxes and the gaps between the layers (columns) and rows of the drawn graph.
  const BOX = { w: 150, h: 46, gapX: 56, gapY: 22, pad: 12 };
  const wf = {
    runs: [], cursor: null, names: {}, definitions: {}, run: null, steps: {}, order: [],
    events: [], seq: 0, socket: null, generation: 0, ended: false,
    // For tests and the curious: what the view has done.
    counters: { snapshots: 0, events: 0, connects: 0, listLoads: 0 },
  };
  window.collabWorkflows = wf;
  const dash = () => window.collabDashboard;
  const lib = () => dash().lib;
  const v1 = (path, params) => "/api/v1" + path + (params ? "?" + new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString() : "");

  async function act(fn) {
    try { await fn(); lib().notice(""); } catch (err) { if (!lib().refused(err)) lib().notice("Failed: " + err.message); }
  }

  // -- the view (hash routing: #workflows, #workflows/<run id>) --------------------------
  function route() {
    const [view, runId] = location.hash.replace(/^#/, "").split("/");
    const showing = view === "workflows";
    $("#main").hidden = showing;
    $("#workflows").hidden = !showing;
    for (const link of document.querySelectorAll("#views a")) {
      if ((link.getAttribute("href") === "#workflows") === showing) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (!showing) { stop(); return; }
    loadRuns();
    if (runId && (!wf.run || wf.run.id !== runId)) openRun(runId);
    if (!runId) { stop(); $("#wf-run").hidden = true; wf.run = null; }
  }

  // -- the runs list ----------------------------------------------------------------------
  async function workflowOf(id) {
    if (!wf.definitions[id]) {
      const w = await lib().api("GET", v1("/workflows/" + id));
      wf.names[id] = w.name + " v" + w.version;
      wf.definitions[id] = w.definition || { nodes: [], edges: [] };
    }
    return wf.definitions[id];
  }

  async function loadRuns(more) {
    const params = { executor_id: dash().executor, status: $("#wf-status").value, page_size: PAGE,
                     cursor: more ? wf.cursor : null };
    try {
      const page = await lib().api("GET", v1("/runs", params));
      const names = await lib().api("GET", v1("/workflows", { executor_id: dash().executor, page_size: 1000 }));
      for (const w of names.items) wf.names[w.id] = w.name + " v" + w.version;
      wf.runs = more ? wf.runs.concat(page.items) : page.items;
      wf.cursor = page.next_cursor;
      wf.counters.listLoads += 1;
      renderRuns();
    } catch (err) {
      if (!lib().refused(err)) lib().notice("Cannot read the runs: " + err.message);
    }
  }

  function renderRuns() {
    const { el, ago } = lib();
    $("#wf-count").textContent = String(wf.runs.length) + (wf.cursor ? "+" : "");
    const list = $("#wf-runs");
    list.replaceChildren(...(wf.runs.length ? wf.runs.map((r) => el("li", { "data-run": r.id, "data-status": r.status },
      el("div", { class: "job-main" },
        el("div", { class: "job-name" }, wf.names[r.workflow_id] || r.workflow_id),
        el("a", { class: "job-id", href: "#workflows/" + r.id, "aria-label": "open run " + r.id }, r.id)),
      el("span", { class: "meta wf-status", "data-status": r.status }, r.status),
      el("span", { class: "meta", "data-since": r.created_at }, ago(r.created_at))))
      : [el("li", { class: "empty" }, "No workflow runs.")]));
    $("#wf-more").hidden = !wf.cursor;
  }

  // -- one run ----------------------------------------------------------------------------
  async function openRun(runId) {
    stop();
    wf.run = { id: runId };
    wf.steps = {}; wf.order = []; wf.events = []; wf.seq = 0;
    $("#wf-run").hidden = false;
    $("#wf-title").textContent = "Run " + runId;
    $("#wf-graph").replaceChildren();
    $("#wf-events").replaceChildren();
    follow(runId);
  }

  function stop() {
    wf.generation += 1;
    if (wf.socket) { wf.socket.onclose = null; wf.socket.close(1000); wf.socket = null; }
  }

  function setLive(kind, text) {
    const node = $("#wf-live");
    node.dataset.state = kind;
    node.textContent = text;
  }

  // The run's socket: a token travels as the `bearer.<JWT>` subprotocol offer (never in
  // the URL); under `collab dev` none is needed. A drop reconnects with backoff and gets a
  // fresh snapshot; after the run's final event the server sends `end` and closes.
  function follow(runId, backoff) {
    const generation = ++wf.generation;
    const token = dash().token;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/ws/runs/" + runId,
      token ? ["collab.v1", "bearer." + token] : ["collab.v1"]);
    wf.socket = socket;
    wf.ended = false;
    setLive("connecting", "connecting…");
    socket.onmessage = (m) => {
      if (generation !== wf.generation) return;
      const message = JSON.parse(m.data);
      if (message.type === "snapshot") applySnapshot(message);
      else if (message.type === "event") applyEvent(message);
      // Only "final" ends the run's story; "shutdown" (a restart) or "timeout" reconnect.
      else if (message.type === "end" && message.reason === "final") { wf.ended = true; setLive("ended", "finished · seq " + wf.seq); }
    };
    socket.onclose = (e) => {
      if (generation !== wf.generation) return;
      wf.socket = null;
      if (wf.ended) return;
      if (e.code >= 4000 && e.code < 5000 && e.code !== 4009) {
        setLive("offline", "refused: " + (e.reason || e.code));
        lib().notice("The run's stream was refused: " + (e.reason || e.code));
        return;
      }
      const wait = Math.min(backoff || 500, 10000);
      setLive("offline", "reconnecting…");
      setTimeout(() => { if (generation === wf.generation) follow(runId, wait * 2); }, wait);
    };
  }

  async function applySnapshot(message) {
    wf.counters.snapshots += 1;
    wf.counters.connects += 1;
    wf.run = message.run;
    wf.seq = message.seq;
    wf.steps = {};
    wf.order = message.steps.map((s) => s.step_id);
    for (const s of message.steps) wf.steps[s.step_id] = s;
    setLive("live", "live · seq " + wf.seq);
    try { await workflowOf(wf.run.workflow_id); } catch (err) { lib().refused(err); }
    drawGraph();
    renderRun();
  }

  function applyEvent(e) {
    if (e.seq <= wf.seq) return;  // already reflected (a snapshot or an earlier message)
    wf.seq = e.seq;
    wf.counters.events += 1;
    wf.events.push(e);
    const [scope, ...rest] = e.event_type.split("_");
    const status = rest.join("_");
    const p = e.payload || {};
    if (scope === "step" && e.step_id && wf.steps[e.step_id]) {
      const step = wf.steps[e.step_id];
      step.status = status;
      if (p.attempt !== undefined) step.attempts = p.attempt;
      if (p.error !== undefined) step.error = p.error;
      if (p.output !== undefined) step.output = p.output;
      if (p.job_id !== undefined) step.job_id = p.job_id;
      if (status === "pending") step.error = null;
    } else if (scope === "run") {
      wf.run.status = status === "retried" ? "running" : status;
      if (p.error !== undefined) wf.run.error = p.error;
      const listed = wf.runs.find((r) => r.id === wf.run.id);
      if (listed) { listed.status = wf.run.status; renderRuns(); }
    }
    setLive("live", "live · seq " + wf.seq);
    paintGraph();
    renderRun();
  }

  function renderRun() {
    const { el } = lib();
    const run = wf.run;
    $("#wf-title").textContent = (wf.names[run.workflow_id] || "Run") + " · run " + run.id;
    const fields = [["status", run.status], ["trigger", run.trigger_type], ["executor", run.executor_id],
      ["created", run.created_at], ["started", run.started_at || "–"], ["finished", run.completed_at || "–"],
      ["error", run.error || "–"]];
    $("#wf-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k }, String(v))]));
    const actions = [];
    if (ACTIVE_RUN.includes(run.status))
      actions.push(el("button", { type: "button", class: "danger", id: "wf-cancel", onclick: cancelRun }, "Cancel run"));
    if (run.status === "failed")
      actions.push(el("button", { type: "button", class: "warn", id: "wf-retry", onclick: retryRun }, "Retry from the failed step"));
    $("#wf-actions").replaceChildren(...actions);
    // Rows are redrawn on every event: keep what the operator is typing into Approve's data.
    const typed = Object.fromEntries([...document.querySelectorAll("#wf-steps textarea")].map((t) => [t.id, t.value]));
    const focused = document.activeElement && document.activeElement.id;
    $("#wf-steps tbody").replaceChildren(...wf.order.map((id) => stepRow(wf.steps[id])));
    for (const [id, value] of Object.entries(typed)) { const t = document.getElementById(id); if (t) t.value = value; }
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    $("#wf-events").replaceChildren(...wf.events.slice(-200).map((e) => el("li", { "data-seq": e.seq },
      el("span", { class: "meta" }, "#" + e.seq + " " + new Date(e.created_at).toLocaleTimeString() + " "),
      el("strong", {}, e.event_type), e.step_id ? " " + e.step_id : "")));
  }

  function stepRow(step) {
    const { el } = lib();
    // data-label: the column's name, shown beside each cell where narrow screens stack them.
    const cells = [el("th", { scope: "row" }, step.step_id), el("td", { "data-label": "Type" }, step.type),
      el("td", { "data-label": "Status" }, el("span", { class: "wf-status", "data-status": step.status }, step.status)),
      el("td", { "data-label": "Attempts" }, String(step.attempts) + " / " + String(step.max_attempts)),
      el("td", { class: "wf-error", "data-label": step.error ? "Error" : null }, step.error || "")];
    const approve = el("td", { class: "wf-approve-cell" });
    if (step.kind === "approval" && step.status === "waiting" && wf.run.status !== "cancelled") {
      const field = "wf-data-" + step.step_id;
      approve.append(el("form", { class: "wf-approve", "data-approve": step.step_id },
        el("label", { for: field }, "Data for " + step.step_id + " (JSON)"),
        el("textarea", { id: field, rows: "2", spellcheck: "false" }, "{}"),
        el("button", { type: "submit", "aria-label": "Approve step " + step.step_id }, "Approve")));
      approve.firstChild.addEventListener("submit", (e) => { e.preventDefault(); approveStep(step.step_id, $("#" + CSS.escape(field)).value); });
    }
    cells.push(approve);
    return el("tr", { "data-step": step.step_id, "data-status": step.status }, ...cells);
  }

  // -- actions (the run's socket shows what they did) -------------------------------------
  function approveStep(stepId, text) {
    let data;
    try { data = JSON.parse(text || "{}"); } catch (err) { lib().notice("The data is not JSON: " + err.message); return; }
    if (data === null || typeof data !== "object" || Array.isArray(data)) { lib().notice("The data must be a JSON object."); return; }
    act(() => lib().api("POST", v1("/runs/" + wf.run.id + "/resume"), { step_id: stepId, data }));
  }

  function cancelRun() {
    if (!window.confirm("Cancel run " + wf.run.id + "? Its queued and running steps are cancelled.")) return;
    act(() => lib().api("POST", v1("/runs/" + wf.run.id + "/cancel"), { reason: "cancelled from the dashboard" }));
  }

  function retryRun() {
    const id = wf.run.id;
    // The socket ended with the failure: follow the run again once it is running.
    act(async () => { await lib().api("POST", v1("/runs/" + id + "/retry")); if (wf.run && wf.run.id === id && !wf.socket) follow(id); });
  }

  // -- the graph: a layered layout by topological depth -----------------------------------
  function layout(definition) {
    const ids = (definition.nodes || []).map((n) => n.id);
    const preds = Object.fromEntries(ids.map((id) => [id, []]));
    for (const e of definition.edges || []) if (preds[e.target] && preds[e.source]) preds[e.target].push(e.source);
    const depth = {};
    const depthOf = (id, seen) => {
      if (depth[id] !== undefined) return depth[id];
      if (seen.has(id)) return 0;  // a cycle (the engine refuses them): do not loop
      seen.add(id);
      depth[id] = preds[id].length ? 1 + Math.max(...preds[id].map((p) => depthOf(p, seen))) : 0;
      return depth[id];
    };
    const layers = [];
    for (const id of ids) (layers[depthOf(id, new Set())] ||= []).push(id);
    const at = {};
    layers.forEach((layer, x) => layer.forEach((id, y) => {
      at[id] = { x: BOX.pad + x * (BOX.w + BOX.gapX), y: BOX.pad + y * (BOX.h + BOX.gapY) };
    }));
    const rows = Math.max(1, ...layers.map((l) => l.length));
    return { at, preds, width: 2 * BOX.pad + layers.length * (BOX.w + BOX.gapX) - BOX.gapX,
             height: 2 * BOX.pad + rows * (BOX.h + BOX.gapY) - BOX.gapY };
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c);
    return node;
  }

  function drawGraph() {
    const definition = wf.definitions[wf.run.workflow_id];
    if (!definition) return;
    const g = layout(definition);
    const edges = [];
    for (const [target, sources] of Object.entries(g.preds)) for (const source of sources) {
      const a = g.at[source], b = g.at[target];
      const x1 = a.x + BOX.w, y1 = a.y + BOX.h / 2, x2 = b.x, y2 = b.y + BOX.h / 2, mid = (x1 + x2) / 2;
      edges.push(svg("path", { class: "wf-edge", "data-edge": source + ">" + target, "marker-end": "url(#wf-arrow)",
                               d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}` }));
    }
    const nodes = Object.entries(g.at).map(([id, p]) => svg("g", { class: "wf-node", "data-step": id,
                                                                   transform: `translate(${p.x},${p.y})` },
      svg("title", {}, id),
      svg("rect", { width: BOX.w, height: BOX.h, rx: 7 }),
      svg("text", { x: 10, y: 19, class: "wf-label" }, id.length > 18 ? id.slice(0, 17) + "…" : id),
      svg("text", { x: 10, y: 36, class: "wf-state" }, "")));
    const marker = svg("defs", {}, svg("marker", { id: "wf-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
                                                  markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: "wf-arrowhead" })));
    $("#wf-graph").replaceChildren(svg("svg", { viewBox: `0 0 ${g.width} ${g.height}`, width: g.width, height: g.height,
                                               role: "img", "aria-labelledby": "wf-graph-title" },
      svg("title", { id: "wf-graph-title" }, "The run's steps and their order (the table below lists them)"),
      marker, ...edges, ...nodes));
    paintGraph();
  }

  function paintGraph() {
    for (const node of document.querySelectorAll("#wf-graph .wf-node")) {
      const step = wf.steps[node.dataset.step];
      const status = step ? step.status : "unknown";
      node.dataset.status = status;
      node.querySelector(".wf-state").textContent = status;
      node.querySelector("title").textContent = node.dataset.step + (step ? " (" + step.type + ")" : "") + ": " + status;
    }
  }

  // -- wiring -----------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("#wf-filter").addEventListener("submit", (e) => { e.preventDefault(); loadRuns(); });
    $("#wf-refresh").addEventListener("click", () => loadRuns());
    $("#wf-more").addEventListener("click", () => loadRuns(true));
    // A new token or executor (the header's forms): read again as that caller.
    for (const form of ["#scope", "#signin"]) $(form).addEventListener("submit", () => {
      if (!$("#workflows").hidden) setTimeout(() => { loadRuns(); if (wf.run) openRun(wf.run.id); }, 0);
    });
    window.addEventListener("hashchange", route);
    // dashboard.js reads its config first; the view needs its executor and token.
    let tries = 0;
    const ready = () => (dash() && dash().lib && dash().config ? route() : ++tries < 500 && setTimeout(ready, 20));
    ready();
  });
})();
