// sluice's web UI: plain JavaScript, no build step, no network but this server's API.
// Every value from the API is put in the page as text (never as HTML).
"use strict";

const main = document.getElementById("main");
let me = null; // {user, role, csrf}
let timer = null; // the current page's refresh

const ROLES = { viewer: 1, operator: 2, admin: 3 };
const can = (role) => me && ROLES[me.role] >= ROLES[role];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Calls the API with a JSON body, or a FormData one (a file upload). */
async function api(method, path, body) {
  const headers = {};
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["content-type"] = "application/json";
  if (method !== "GET" && me && me.csrf) headers["x-csrf-token"] = me.csrf;
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined || form ? body : JSON.stringify(body),
  });
  if (r.status === 401 && path !== "/api/login") {
    me = null;
    location.hash = "#/login";
    throw new Error("logged out");
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

const time = (us) => (us ? new Date(us / 1000).toLocaleString() : "");
const secs = (a, b) => (a && b ? ((b - a) / 1e6).toFixed(1) + " s" : "");
const state = (s) => el("span", { class: `state s-${s}`, "data-state": s }, s || "none");

function page(title, ...children) {
  main.replaceChildren(el("h1", {}, title), ...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function failure(e) {
  return el("p", { class: "error", role: "alert" }, e.message || String(e));
}

// ---- pages ------------------------------------------------------------------------------

function loginPage() {
  const user = el("input", { name: "user", autocomplete: "username", required: true, "aria-label": "user" });
  const password = el("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "aria-label": "password" });
  const msg = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "login", onsubmit: async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    try {
      const r = await api("POST", "/api/login", { user: user.value, password: password.value });
      me = { user: r.user, role: r.role, csrf: r.csrf };
      showWho();
      location.hash = "#/";
    } catch (e) { msg.textContent = e.message; }
  } }, el("h1", {}, "Log in to sluice"), el("label", {}, "User", user),
    el("label", {}, "Password", password), el("button", { class: "primary", type: "submit" }, "Log in"), msg);
  main.replaceChildren(form);
  user.focus();
}

async function pipelinesPage() {
  const list = await api("GET", "/api/pipelines");
  const rows = list.map((p) => el("tr", { "data-pipeline": p.name },
    el("td", {}, el("a", { href: `#/p/${encodeURIComponent(p.name)}` }, p.name)),
    el("td", {}, p.valid ? "valid" : el("span", { class: "error" }, p.errors)),
    el("td", {}, p.schedule ? `${p.schedule} (${p.timezone})` : el("span", { class: "muted" }, "none")),
    el("td", {}, time(p.next_run)),
    el("td", {}, p.last_run ? [state(p.last_run.state), " ", el("a", { href: `#/r/${p.last_run.id}` }, time(p.last_run.started_at))] : ""),
    el("td", {}, p.active_runs ?? ""),
    el("td", {}, p.valid && can("operator") ? el("button", { onclick: () => trigger(p.name, {}) }, "Trigger") : "")));
  page("Pipelines", el("table", {}, el("thead", {}, el("tr", {},
    ["pipeline", "file", "schedule", "next run", "last run", "active", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows)));
}

async function trigger(name, body) {
  try {
    const r = await api("POST", `/api/pipelines/${encodeURIComponent(name)}/runs`, body);
    location.hash = `#/r/${r.run_id}`;
  } catch (e) { main.prepend(failure(e)); }
}

/** Tasks in columns by depth (longest path from a root), as boxes `W` wide linked by arrows. */
function dag(tasks, W = 150) {
  const depth = {};
  const byName = Object.fromEntries(tasks.map((t) => [t.name, t]));
  const d = (n, seen = new Set()) => {
    if (depth[n] !== undefined) return depth[n];
    if (seen.has(n)) return 0;
    seen.add(n);
    const after = byName[n] ? byName[n].after : [];
    depth[n] = after.length ? 1 + Math.max(...after.map((a) => d(a, seen))) : 0;
    return depth[n];
  };
  tasks.forEach((t) => d(t.name));
  const cols = {};
  tasks.forEach((t) => (cols[depth[t.name]] = cols[depth[t.name]] || []).push(t.name));
  const H = 34, GX = 60, GY = 14;
  const pos = {};
  Object.entries(cols).forEach(([c, names]) => names.forEach((n, i) => (pos[n] = [c * (W + GX), i * (H + GY)])));
  const width = (Math.max(...Object.keys(cols).map(Number)) + 1) * (W + GX);
  const height = Math.max(...Object.values(cols).map((c) => c.length)) * (H + GY);
  const edges = tasks.flatMap((t) => t.after.map((a) => {
    const [x1, y1] = pos[a], [x2, y2] = pos[t.name];
    return svg("line", { x1: x1 + W, y1: y1 + H / 2, x2, y2: y2 + H / 2, stroke: "#98a2b3", "marker-end": "url(#arrow)" });
  }));
  const nodes = tasks.map((t) => svg("g", { "data-task": t.name },
    svg("rect", { x: pos[t.name][0], y: pos[t.name][1], width: W, height: H, rx: 4, fill: "#fff", stroke: "#1f5fbf" }),
    svg("text", { x: pos[t.name][0] + 8, y: pos[t.name][1] + 21 }, t.name)));
  return svg("svg", { width, height, class: "dag", role: "img", "aria-label": "task graph" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }))), edges, nodes);
}

async function pipelinePage(name) {
  const [p, grid] = await Promise.all([
    api("GET", `/api/pipelines/${encodeURIComponent(name)}`),
    api("GET", `/api/pipelines/${encodeURIComponent(name)}/grid?limit=25`),
  ]);
  if (!p.valid) return page(name, el("p", { class: "error" }, p.errors));
  // Only the parameters the pipeline lets an API caller set (`api: true`) can be sent.
  const settable = Object.fromEntries(Object.entries(p.settable_params || {}).map(([k, s]) => [k, s.default ?? ""]));
  const params = el("textarea", { rows: 3, cols: 50, "aria-label": "parameters" }, JSON.stringify(settable, null, 1));
  const actions = can("operator") ? el("div", { class: "actions" },
    el("button", { class: "primary", onclick: () => {
      let values;
      try { values = JSON.parse(params.value || "{}"); } catch (e) { return main.prepend(failure(e)); }
      trigger(name, { params: values });
    } }, "Trigger run"), el("label", {}, "params ", params)) : null;
  const from = el("input", { type: "date", "aria-label": "backfill from" });
  const to = el("input", { type: "date", "aria-label": "backfill to" });
  const said = el("span", { class: "muted", role: "status" });
  const backfill = can("operator") && p.schedule ? el("form", { class: "actions", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", `/api/pipelines/${encodeURIComponent(name)}/backfill`, { from: from.value, to: to.value });
      said.textContent = `${r.claimed} runs claimed for ${r.slots} slots (${r.already_claimed} already claimed); they start oldest first, ${p.max_active_runs} at a time`;
    } catch (e) { said.textContent = e.message; }
  } }, el("label", {}, "Backfill from ", from), el("label", {}, " to ", to), el("button", { type: "submit" }, "Backfill"), said) : null;
  const head = el("tr", {}, el("th", {}, "task"), grid.runs.map((r) =>
    el("th", { title: `${r.id} (${r.trigger})` }, el("a", { href: `#/r/${r.id}` }, state(r.state)))));
  const body = grid.tasks.map((t) => el("tr", {}, el("td", {}, t), grid.runs.map((r) => {
    const s = r.tasks[t];
    return el("td", { class: "cell" }, s ? el("a", { class: `sq s-${s}`, "data-state": s, title: `${t}: ${s}`, href: `#/r/${r.id}/${encodeURIComponent(t)}` }) : "");
  })));
  page(name,
    el("p", { class: "muted" }, p.description || "", p.schedule ? ` schedule ${p.schedule} (${p.timezone}), catch-up ${p.catchup}, next ${time(p.next_run)}` : " no schedule"),
    actions, backfill,
    p.on_new_version && p.on_new_version.length ? el("p", { class: "muted" }, `runs on new versions of ${p.on_new_version.join(", ")}`) : null,
    el("h2", {}, "Runs"), el("table", { class: "grid" }, el("thead", {}, head), el("tbody", {}, body)),
    el("h2", {}, "Graph"), dag(p.tasks),
    el("h2", {}, "Schedule slots"),
    el("table", {}, el("tbody", {}, (p.slots || []).map((s) => el("tr", {},
      el("td", {}, time(s.slot)), el("td", {}, s.state), el("td", {}, s.skipped > 1 ? `${s.skipped} slots` : ""),
      el("td", {}, s.run_id ? el("a", { href: `#/r/${s.run_id}` }, s.run_id) : ""))))));
}

async function runsPage() {
  const runs = await api("GET", "/api/runs?limit=100");
  page("Runs", el("table", {}, el("tbody", {}, runs.map((r) => el("tr", {},
    el("td", {}, el("a", { href: `#/r/${r.id}` }, r.id)), el("td", {}, r.pipeline), el("td", {}, state(r.state)),
    el("td", {}, r.trigger), el("td", {}, time(r.started_at)), el("td", {}, secs(r.started_at, r.ended_at)))))));
}

function gantt(attempts) {
  const timed = attempts.filter((a) => a.started_at);
  if (!timed.length) return el("p", { class: "muted" }, "no attempt yet");
  const t0 = Math.min(...timed.map((a) => a.started_at));
  const t1 = Math.max(...timed.map((a) => a.ended_at || Date.now() * 1000));
  const span = Math.max(t1 - t0, 1), W = 700, L = 160, H = 20;
  return svg("svg", { width: L + W + 80, height: timed.length * (H + 4) + 4, role: "img", "aria-label": "gantt" },
    timed.map((a, i) => {
      const x = L + ((a.started_at - t0) / span) * W;
      const w = Math.max((((a.ended_at || t1) - a.started_at) / span) * W, 2);
      const colour = { succeeded: "#12b76a", failed: "#d92d20", running: "#2e90fa" }[a.state] || "#98a2b3";
      return svg("g", {}, svg("text", { x: 0, y: i * (H + 4) + 15 }, `${a.task} #${a.attempt}`),
        svg("rect", { x, y: i * (H + 4) + 2, width: w, height: H, fill: colour }),
        svg("text", { x: x + w + 4, y: i * (H + 4) + 15 }, secs(a.started_at, a.ended_at || t1)));
    }));
}

async function runPage(id) {
  const v = await api("GET", `/api/runs/${encodeURIComponent(id)}`);
  const r = v.run;
  const actions = el("div", { class: "actions" }, state(r.state), ` ${r.pipeline} · ${r.trigger} · ${time(r.started_at)} ${secs(r.started_at, r.ended_at)}`,
    can("operator") && r.state === "running" ? el("button", { onclick: () => act("cancel") }, "Cancel") : null,
    can("operator") && (r.state === "failed" || r.state === "cancelled") ? el("button", { onclick: () => act("resume") }, "Resume") : null);
  async function act(what) {
    try { await api("POST", `/api/runs/${encodeURIComponent(id)}/${what}`); route(); } catch (e) { main.prepend(failure(e)); }
  }
  page(`Run ${id}`, actions, r.error ? el("p", { class: "error" }, r.error) : null,
    el("table", {}, el("thead", {}, el("tr", {}, ["task", "state", "attempts", "duration", "why / error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, v.tasks.map((t) => el("tr", { "data-task": t.task },
        el("td", {}, el("a", { href: `#/r/${id}/${encodeURIComponent(t.task)}` }, t.task)),
        el("td", {}, state(t.state)), el("td", {}, t.attempts), el("td", {}, secs(t.started_at, t.ended_at)),
        el("td", { class: t.why ? "why" : "error" }, t.why || t.error || ""))))),
    el("h2", {}, "Gantt"), gantt(v.attempts));
  if (r.state === "running") timer = setTimeout(route, 1000);
}

async function logPage(id, task) {
  const out = el("pre", { class: "log", "aria-label": "log" });
  page(`${task} · run ${id}`, el("p", {}, el("a", { href: `#/r/${id}` }, "back to the run")), out);
  const r = await fetch(`/api/runs/${encodeURIComponent(id)}/tasks/${encodeURIComponent(task)}/logs?follow=true`, { credentials: "same-origin" });
  if (!r.ok) { out.replaceWith(failure(new Error((await r.json()).error))); return; }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out.append(decoder.decode(value, { stream: true }));
    out.scrollTop = out.scrollHeight;
  }
  out.dataset.complete = "true";
}

async function datasetsPage() {
  const list = await api("GET", "/api/datasets");
  page("Datasets", el("table", {}, el("thead", {}, el("tr", {}, ["dataset", "version", "rows", "bytes", "run"].map((h) => el("th", {}, h)))),
    el("tbody", {}, list.map((d) => el("tr", { "data-dataset": `${d.pipeline}.${d.task}` },
      el("td", {}, el("a", { href: `#/d/${encodeURIComponent(d.pipeline)}/${encodeURIComponent(d.task)}` }, `${d.pipeline}.${d.task}`)),
      el("td", {}, d.version), el("td", {}, d.rows), el("td", {}, d.bytes),
      el("td", {}, el("a", { href: `#/r/${d.run_id}` }, d.run_id)))))));
}

/** Row counts over versions, oldest first, as a line with a dot per version. */
function rowsPlot(versions) {
  if (!versions.length) return null;
  const W = 600, H = 140, P = 30;
  const max = Math.max(...versions.map((v) => v.rows), 1);
  const x = (i) => P + (versions.length === 1 ? (W - 2 * P) / 2 : (i * (W - 2 * P)) / (versions.length - 1));
  const y = (r) => H - P - (r / max) * (H - 2 * P);
  const points = versions.map((v, i) => `${x(i)},${y(v.rows)}`).join(" ");
  return svg("svg", { width: W, height: H, role: "img", "aria-label": "rows over versions", class: "plot" },
    svg("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: "#d9dee7" }),
    svg("text", { x: 2, y: y(max) + 4 }, max), svg("text", { x: 2, y: H - P + 4 }, 0),
    svg("polyline", { points, fill: "none", stroke: "#1f5fbf", "stroke-width": 2 }),
    versions.map((v, i) => svg("circle", { cx: x(i), cy: y(v.rows), r: 4, fill: "#1f5fbf", "data-rows": v.rows },
      svg("title", {}, `${v.version}: ${v.rows} rows, ${time(v.created_at)}`))));
}

/** A table of JSON rows: the given columns, values as text. */
function rowsTable(columns, rows, extra) {
  const cell = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return el("table", { class: "rows" }, el("thead", {}, el("tr", {}, extra ? el("th", {}, extra.name) : null, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((r, i) => el("tr", {}, extra ? el("td", {}, extra.value(i)) : null, columns.map((c) => el("td", {}, cell(r[c])))))));
}

/** The name of a lineage step: `dataset.column`, or the dataset. */
const stepName = (s) => (s.column ? `${s.dataset}.${s.column}` : s.dataset);

/** Where `start` comes from and what it affects, as one graph (data flowing left to right). */
function lineageGraph(start, upstream, downstream) {
  const after = { [start]: new Set() };
  const add = (n) => (after[n] = after[n] || new Set());
  upstream.forEach((s) => { add(stepName(s)); add(s.to).add(stepName(s)); });
  downstream.forEach((s) => { add(s.to); add(stepName(s)).add(s.to); });
  return dag(Object.entries(after).map(([name, a]) => ({ name, after: [...a] })), 320);
}

/** A step list: name, how it is used, the task between. */
function stepsTable(steps) {
  if (!steps.length) return el("p", { class: "muted" }, "nothing recorded");
  return el("table", { class: "steps" }, el("tbody", {}, steps.map((s) => el("tr", { "data-step": stepName(s) },
    el("td", {}, "  ".repeat(s.depth - 1) + stepName(s)),
    el("td", {}, s.how ? `${s.how}${s.kind === "INDIRECT" ? " (indirect)" : ""}` : ""),
    el("td", { class: "muted" }, s.via)))));
}

/** The catalog part of a dataset page (`c`: the catalog's answer, or null): lineage of the
 * dataset or one column, and who uses it. */
async function catalogSection(base, c) {
  if (!c) return [el("h2", {}, "Lineage"), el("p", { class: "muted" }, "No lineage recorded yet: it is recorded when the task succeeds.")];
  const graph = el("div", { class: "lineage" });
  const show = async (column) => {
    const l = column ? await api("GET", `${base}?column=${encodeURIComponent(column)}`) : c;
    const start = column ? `${c.entry.dataset}.${column}` : c.entry.dataset;
    graph.replaceChildren(lineageGraph(start, l.upstream, l.downstream),
      el("h3", {}, `${start} comes from`), stepsTable(l.upstream),
      el("h3", {}, `${start} is used by`), stepsTable(l.downstream));
  };
  const pick = el("select", { "aria-label": "column", onchange: () => show(pick.value).catch((e) => graph.replaceChildren(failure(e))) },
    el("option", { value: "" }, "the whole dataset"), c.entry.columns.map((col) => el("option", { value: col.name }, col.name)));
  await show("");
  return [
    el("h2", {}, "Lineage"),
    el("p", {}, el("label", {}, "lineage of ", pick)),
    graph,
    el("h2", {}, "Used by"),
    c.used_by.length ? el("ul", { class: "used-by" }, c.used_by.map((u) => el("li", {}, `${u.task}${u.op ? ` (${u.op})` : ""}${u.model ? ", trains a model" : ""} · `,
      el("a", { href: `#/r/${u.run_id}` }, `run ${u.run_id}`)))) : el("p", { class: "muted" }, "no task reads it"),
  ];
}

/** The `sluice worker`s and what waits for them; refreshed every 2 s. */
async function workersPage() {
  const w = await api("GET", "/api/workers");
  if (!w.enabled) {
    page("Workers", el("p", { class: "muted" }, "This server runs task attempts itself. Start it with --executor workers (or SLUICE_EXECUTOR=workers) and start `sluice worker` processes to spread them over machines."));
    return;
  }
  const queued = w.queue.reduce((n, q) => n + q.queued, 0);
  const running = w.queue.reduce((n, q) => n + q.claimed, 0);
  page("Workers",
    el("p", { class: "summary", "data-queued": queued, "data-running": running },
      `${w.workers.length} ${w.workers.length === 1 ? "worker" : "workers"}, ${queued} waiting, ${running} running`),
    w.workers.length ? el("table", { class: "workers" },
      el("thead", {}, el("tr", {}, ["worker", "host", "state", "labels", "slots", "running", "last heartbeat"].map((h) => el("th", {}, h)))),
      el("tbody", {}, w.workers.map((x) => el("tr", { "data-worker": x.id },
        el("td", {}, x.id), el("td", {}, x.host), el("td", {}, state(x.silent_for > 60e6 && x.state !== "stopped" ? "silent" : x.state)),
        el("td", {}, x.labels.join(", ")), el("td", {}, `${x.running.length}/${x.slots}`),
        el("td", {}, x.running.join(" ")), el("td", {}, `${(x.silent_for / 1e6).toFixed(1)} s ago`)))))
      : el("p", { class: "muted" }, "no worker seen in the last 10 minutes"),
    el("h2", {}, "Queue"),
    w.queue.length ? el("table", { class: "queue" },
      el("thead", {}, el("tr", {}, ["pool", "waiting", "running", "slot limit"].map((h) => el("th", {}, h)))),
      el("tbody", {}, w.queue.map((q) => el("tr", {}, el("td", {}, q.pool || "(none)"), el("td", {}, q.queued),
        el("td", {}, q.claimed), el("td", {}, q.slots ?? "-")))))
      : el("p", { class: "muted" }, "nothing waits"));
  timer = setTimeout(route, 2000);
}

/** Datasets found by name, description, owner, tag or column. */
async function catalogPage(preset) {
  const query = el("input", { type: "search", size: 50, "aria-label": "catalog search", placeholder: "a name, a column, a tag, words of a description", value: preset || "" });
  const out = el("div", { class: "results" });
  let asked = 0;
  const run = async () => {
    // Only the answer to the latest search is shown: an older one arriving late is dropped.
    const mine = ++asked;
    const q = query.value;
    const found = await api("GET", `/api/catalog?q=${encodeURIComponent(q)}`);
    if (mine !== asked) return;
    out.replaceChildren(el("p", { class: "muted" }, `${found.length} ${found.length === 1 ? "dataset" : "datasets"}`),
      el("table", { class: "catalog", "data-query": q }, el("thead", {}, el("tr", {}, ["dataset", "description", "owners", "tags", "rows", "found in"].map((h) => el("th", {}, h)))),
        el("tbody", {}, found.map((e) => {
          const [p, t] = modelPath(e.dataset);
          return el("tr", { "data-dataset": e.dataset },
            el("td", {}, el("a", { href: `#/d/${encodeURIComponent(p)}/${encodeURIComponent(t)}` }, e.dataset)),
            el("td", {}, e.description || ""), el("td", {}, e.owners.join(", ")), el("td", {}, e.tags.join(", ")),
            el("td", {}, e.rows ?? ""), el("td", { class: "muted" }, e.matched.join(", ")));
        }))));
  };
  const form = el("form", { class: "actions", onsubmit: (ev) => { ev.preventDefault(); run().catch((e) => out.replaceChildren(failure(e))); } },
    query, el("button", { class: "primary", type: "submit" }, "Find"));
  page("Catalog", form, out);
  await run();
  query.focus();
}

async function datasetPage(pipeline, task) {
  const v = await api("GET", `/api/datasets/${encodeURIComponent(pipeline)}/${encodeURIComponent(task)}?rows=20`);
  const base = `/api/catalog/${encodeURIComponent(pipeline)}/${encodeURIComponent(task)}`;
  let c = null;
  try { c = await api("GET", base); } catch (_) { c = null; }
  const catalog = await catalogSection(base, c);
  const entry = c && c.entry;
  const colDoc = Object.fromEntries((entry ? entry.columns : []).map((c) => [c.name, c]));
  const fields = Array.isArray(v.schema) ? v.schema : [];
  const shown = fields.map((f) => f.name).filter((n) => v.preview.length && n in v.preview[0]);
  const vectors = fields.filter((f) => String(f.type).startsWith("FixedSizeList"));
  page(v.dataset,
    el("p", { class: "muted" }, `version ${v.latest.version} · ${v.latest.rows} rows · ${v.latest.bytes} bytes · `,
      el("a", { href: `#/r/${v.latest.run_id}` }, `run ${v.latest.run_id}`)),
    entry && entry.description ? el("p", { class: "description" }, entry.description) : null,
    entry && (entry.owners.length || entry.tags.length) ? el("p", { class: "docs" },
      entry.owners.length ? `owners: ${entry.owners.join(", ")}` : "", entry.owners.length && entry.tags.length ? " · " : "",
      entry.tags.length ? `tags: ${entry.tags.join(", ")}` : "") : null,
    vectors.length ? el("p", {}, el("a", { href: `#/search/${encodeURIComponent(v.dataset)}` }, "Search this dataset")) : null,
    el("h2", {}, "Schema"),
    el("table", { class: "schema" }, el("tbody", {}, fields.map((f) => {
      const d = colDoc[f.name] || {};
      return el("tr", { "data-column": f.name }, el("td", {}, f.name), el("td", {}, f.type),
        el("td", {}, f.nullable ? "nullable" : "not null"), el("td", {}, d.description || ""),
        el("td", {}, [...(d.tags || []), ...(d.pii ? ["pii"] : [])].join(", ")));
    }))),
    ...catalog,
    el("h2", {}, "Rows over versions"), rowsPlot(v.versions),
    el("h2", {}, `First ${v.preview.length} rows`), rowsTable(shown, v.preview));
}

async function searchPage(preset) {
  const list = await api("GET", "/api/datasets");
  const dataset = el("select", { "aria-label": "dataset" }, list.map((d) => {
    const name = `${d.pipeline}.${d.task}`;
    return el("option", { value: name, selected: name === preset ? "selected" : null }, name);
  }));
  const query = el("input", { type: "search", size: 50, "aria-label": "query", placeholder: "a question, a few words" });
  const k = el("input", { type: "number", min: 1, max: 100, value: 5, "aria-label": "k" });
  const where = el("input", { size: 30, "aria-label": "where", placeholder: "theme = 'Logement' (optional)" });
  const out = el("div", { class: "results" });
  const form = el("form", { class: "actions", onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren(el("p", { class: "muted" }, "searching…"));
    try {
      const body = { dataset: dataset.value, query: query.value, k: Number(k.value) || 5 };
      if (where.value.trim()) body.where = where.value;
      const r = await api("POST", "/api/search", body);
      const picked = r.columns.slice(0, 3);
      for (const t of ["chunk_text", "text"]) if (r.columns.includes(t) && !picked.includes(t)) { picked.push(t); break; }
      out.replaceChildren(el("p", { class: "muted" }, `${r.hits.length} ${r.hits.length === 1 ? "row" : "rows"} from ${r.dataset} (column ${r.column})`),
        rowsTable(picked, r.hits.map((h) => h.row), { name: "score", value: (i) => r.hits[i].score.toFixed(4) }));
    } catch (e) { out.replaceChildren(failure(e)); }
  } }, dataset, query, el("label", {}, "k ", k), el("label", {}, "where ", where), el("button", { class: "primary", type: "submit" }, "Search"));
  page("Search", form, out);
  query.focus();
}

/** Every task of the folder's pipelines, by pipeline, with the datasets they wrote. */
async function lineagePage() {
  const g = await api("GET", "/api/lineage");
  const byPipeline = {};
  g.nodes.forEach((n) => (byPipeline[n.pipeline] = byPipeline[n.pipeline] || []).push(n));
  const tasks = g.nodes.map((n) => ({ name: n.id, after: g.edges.filter((e) => e.to === n.id).map((e) => e.from) }));
  page("Lineage", el("p", { class: "muted" }, "Which task wrote each dataset and which tasks read it."),
    tasks.length ? dag(tasks) : el("p", { class: "muted" }, "no pipeline"),
    el("table", {}, el("thead", {}, el("tr", {}, ["dataset", "version", "rows", "read by"].map((h) => el("th", {}, h)))),
      el("tbody", {}, g.nodes.filter((n) => n.dataset).map((n) => el("tr", {},
        el("td", {}, el("a", { href: `#/d/${encodeURIComponent(n.pipeline)}/${encodeURIComponent(n.task)}` }, n.id)),
        el("td", {}, n.version), el("td", {}, n.rows),
        el("td", {}, g.edges.filter((e) => e.from === n.id).map((e) => e.to).join(", ")))))));
}

// ---- models ------------------------------------------------------------------------------

const fig = (v) => (typeof v !== "number" || !isFinite(v) ? "–" : Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4));
const modelPath = (model) => {
  const dot = model.indexOf(".");
  return [model.slice(0, dot), model.slice(dot + 1)];
};
const versionApi = (p, t, v) => `/api/models/${encodeURIComponent(p)}/${encodeURIComponent(t)}/versions/${encodeURIComponent(v)}`;

/** Every model: type, versions, latest figure and aliases. */
async function modelsPage() {
  const list = await api("GET", "/api/models");
  if (!list.length) return page("Models", el("p", { class: "muted" }, "No models yet: a train task makes one."));
  page("Models", el("table", {}, el("thead", {}, el("tr", {}, ["model", "type", "versions", "latest", "metric", "value", "aliases"].map((h) => el("th", {}, h)))),
    el("tbody", {}, list.map((m) => {
      const [p, t] = modelPath(m.model);
      return el("tr", { "data-model": m.model },
        el("td", {}, el("a", { href: `#/m/${encodeURIComponent(p)}/${encodeURIComponent(t)}` }, m.model)),
        el("td", {}, m.kind), el("td", {}, m.versions.length), el("td", {}, m.latest || ""), el("td", {}, m.metric),
        el("td", {}, fig(m.latest ? m.values[m.latest] : undefined)),
        el("td", {}, Object.entries(m.aliases).map(([a, v]) => `${a}: ${v}`).join(", ")));
    }))));
}

/** Lines over epochs: each series `{name, points: [[x, y]], dashed, strong}`. */
function lineChart(title, series) {
  const W = 420, H = 200, L = 52, R = 12, T = 22, B = 28;
  const all = series.flatMap((s) => s.points);
  if (!all.length) return null;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const x = (v) => L + (x1 === x0 ? (W - L - R) / 2 : ((v - x0) * (W - L - R)) / (x1 - x0));
  const y = (v) => H - B - (y1 === y0 ? (H - T - B) / 2 : ((v - y0) * (H - T - B)) / (y1 - y0));
  const colours = ["#1f5fbf", "#d92d20", "#12b76a", "#f79009", "#7a5af8", "#475467"];
  return svg("svg", { width: W, height: H, class: "plot curve", role: "img", "aria-label": title, "data-metric": title },
    svg("text", { x: L, y: 14 }, title),
    svg("text", { x: 2, y: y(y1) + 4 }, fig(y1)), svg("text", { x: 2, y: y(y0) + 4 }, fig(y0)),
    svg("text", { x: L, y: H - 8 }, `epoch ${x0}`), svg("text", { x: W - R - 60, y: H - 8 }, `epoch ${x1}`),
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#d9dee7" }),
    series.map((s, i) => svg("polyline", {
      points: s.points.map((p) => `${x(p[0])},${y(p[1])}`).join(" "), fill: "none",
      stroke: colours[i % colours.length], "stroke-width": s.strong ? 2.5 : 1.2,
      "stroke-dasharray": s.dashed ? "5 3" : "none", "data-series": s.name, "data-points": s.points.length,
    }, svg("title", {}, s.name))));
}

/** The kept trial's curves, one chart per figure (`loss` with `val_loss`…), other trials faint. */
function curvesOf(v) {
  const kept = String(v.state.best_trial);
  const names = [...new Set(Object.values(v.curves).flatMap((c) => Object.keys(c)).map((n) => n.replace(/^val_/, "")))];
  return names.map((n) => lineChart(n, Object.entries(v.curves).flatMap(([trial, c]) => [
    c[n] && { name: `trial ${trial} ${n}`, points: c[n], strong: trial === kept },
    c[`val_${n}`] && { name: `trial ${trial} val_${n}`, points: c[`val_${n}`], dashed: true, strong: trial === kept },
  ].filter(Boolean))));
}

/** `confusion[true][predicted]` with the classes, shaded by the share of the true class. */
function confusionTable(classes, matrix) {
  return el("table", { class: "confusion" },
    el("thead", {}, el("tr", {}, el("th", {}, "true \\ predicted"), classes.map((c) => el("th", {}, c)))),
    el("tbody", {}, matrix.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      return el("tr", {}, el("th", {}, classes[i]), row.map((n, j) => {
        const td = el("td", { "data-count": n, class: i === j ? "diag" : "" }, n);
        // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
        td.style.background = `rgba(31, 95, 191, ${(0.85 * n) / total})`;
        if (n / total > 0.5) td.style.color = "#fff";
        return td;
      }));
    })));
}

/** Two versions' kept-trial figures side by side, with B − A. */
async function comparison(p, t, a, b) {
  const [va, vb] = await Promise.all([api("GET", versionApi(p, t, a)), api("GET", versionApi(p, t, b))]);
  const kept = (v) => Object.fromEntries((v.trials.find((x) => x.trial === v.state.best_trial) || { figures: [] }).figures);
  const [fa, fb] = [kept(va), kept(vb)];
  const names = [...new Set([...Object.keys(fa), ...Object.keys(fb)])];
  return el("table", { class: "compare" },
    el("thead", {}, el("tr", {}, el("th", {}, "figure"), el("th", {}, va.version), el("th", {}, vb.version), el("th", {}, "B − A"))),
    el("tbody", {}, names.map((n) => el("tr", { "data-figure": n }, el("td", {}, n), el("td", {}, fig(fa[n])), el("td", {}, fig(fb[n])),
      el("td", {}, typeof fa[n] === "number" && typeof fb[n] === "number" ? fig(fb[n] - fa[n]) : "–")))));
}

/** A model: its versions (compare two, promote one), then one version's card, curves,
 * confusion matrix and trials. */
async function modelPage(p, t, which) {
  const list = await api("GET", "/api/models");
  const info = list.find((m) => m.model === `${p}.${t}`);
  if (!info) throw new Error(`no model ${p}.${t}`);
  const v = await api("GET", versionApi(p, t, which || "latest"));
  const named = (ver) => Object.entries(info.aliases).filter(([, x]) => x === ver).map(([a]) => a);
  const promote = async (ver) => {
    try { await api("POST", `/api/models/${encodeURIComponent(p)}/${encodeURIComponent(t)}/promote`, { version: ver, note: "from the web UI" }); route(); } catch (e) { main.prepend(failure(e)); }
  };
  const pick = (i) => el("select", { "aria-label": `compare ${i}` }, info.versions.map((x, k) => el("option", { value: x, selected: k === i ? "selected" : null }, x)));
  const [ca, cb] = [pick(Math.min(1, info.versions.length - 1)), pick(0)];
  const compared = el("div", { id: "comparison" });
  const compare = async () => { try { compared.replaceChildren(await comparison(p, t, ca.value, cb.value)); } catch (e) { compared.replaceChildren(failure(e)); } };
  const s = v.state, e = s.energy, notes = s.card || {};
  const ev = v.evaluation || {};
  const part = ["test", "valid"].find((x) => ev.confusion && ev.confusion[x]);
  const cardApi = `${versionApi(p, t, v.version)}/card`;
  page(`${v.model} · version ${v.version}`,
    el("p", { class: "muted" }, `${s.kind} · ${s.metric} ${fig(s.value)} · trial ${s.best_trial} of ${s.trials} · trained ${time(v.created_at)} by `,
      el("a", { href: `#/r/${v.run_id}` }, `run ${v.run_id}`), v.aliases.length ? ` · ${v.aliases.join(", ")}` : ""),
    info.documents && can("operator") ? el("p", {}, el("a", { href: `#/predict/${encodeURIComponent(p)}/${encodeURIComponent(t)}` }, "Classify a document")) : null,
    el("h2", {}, "Versions"),
    el("table", { class: "versions" }, el("thead", {}, el("tr", {}, ["version", s.metric, "aliases", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, info.versions.map((x) => el("tr", { "data-version": x, class: x === v.version ? "current" : "" },
        el("td", {}, el("a", { href: `#/m/${encodeURIComponent(p)}/${encodeURIComponent(t)}/${encodeURIComponent(x)}` }, x), x === info.latest ? " (latest)" : ""),
        el("td", {}, fig(info.values[x])), el("td", {}, named(x).join(", ")),
        el("td", {}, can("admin") && !named(x).includes("champion") ? el("button", { onclick: () => promote(x) }, "Make champion") : ""))))),
    info.versions.length > 1 ? el("div", { class: "actions" }, "Compare", ca, "with", cb, el("button", { onclick: compare }, "Compare")) : null,
    compared,
    el("h2", {}, "Model card"),
    el("table", { class: "card" }, el("tbody", {},
      [["Intended use", notes.intended_use || "not stated (card.intended_use)"], ["Limitations", notes.limitations || "not stated (card.limitations)"],
        ["Owner", notes.owner], ["Features", v.features.map((f) => f.name).join(", ")],
        ["Label", v.label ? `${v.label}${v.classes ? ` (${v.classes.length} classes)` : ""}` : null],
        ["Trained on", s.input ? `${p}.${s.input.replace("@", " version ")}` : null],
        ["Rows", ev.rows ? ["train", "valid", "test"].map((x) => `${ev.rows[x] ?? 0} ${x}`).join(", ") : null],
        ["Energy", e ? `${e.seconds.toFixed(1)} s, ${e.cpu_seconds.toFixed(1)} CPU s, ${fig(e.kwh)} kWh (${e.method}), ${fig(e.co2_grams)} g CO2 at ${e.grid_intensity} g/kWh` : null],
        ["MLflow", s.mlflow ? `run ${s.mlflow.run_id} on ${s.mlflow.server}; ${s.mlflow.registered_model} version ${s.mlflow.model_version}` : null],
      ].filter(([, x]) => x).map(([k, x]) => el("tr", {}, el("th", {}, k), el("td", { "data-field": k }, x))))),
    el("p", {}, el("a", { href: cardApi, download: `${v.model}-${v.version}.md` }, "The card as Markdown")),
    el("h2", {}, "Training curves"),
    el("p", { class: "muted" }, "Each trial's figures per epoch: solid on the training rows, dashed on the validation rows; thick: the kept trial."),
    el("div", { class: "curves" }, curvesOf(v)),
    part ? [el("h2", {}, `Confusion matrix (${part} rows)`), confusionTable(ev.classes, ev.confusion[part])] : null,
    el("h2", {}, "Trials"),
    el("table", { class: "trials" }, el("thead", {}, el("tr", {}, ["trial", "settings", "epochs", s.metric, "fit s"].map((h) => el("th", {}, h)))),
      el("tbody", {}, v.trials.map((tr) => {
        const f = Object.fromEntries(tr.figures);
        return el("tr", { "data-trial": tr.trial, class: tr.trial === s.best_trial ? "kept" : "" },
          el("td", {}, tr.trial, tr.trial === s.best_trial ? " (kept)" : ""), el("td", {}, JSON.stringify(tr.model)),
          el("td", {}, tr.epochs), el("td", {}, fig(f[s.metric])), el("td", {}, fig(f.fit_seconds)));
      }))));
}

/** Upload a document to a model trained on documents: its pipeline reads it (OCR, text,
 * vectors) and the model answers its class, each class's probability and a confidence. */
async function predictPage(p, t) {
  const api_ = `/api/models/${encodeURIComponent(p)}/${encodeURIComponent(t)}/predict`;
  const file = el("input", { type: "file", name: "image", accept: "image/png,image/jpeg,image/tiff,image/bmp", required: true, "aria-label": "document" });
  const out = el("div", { class: "prediction", "aria-live": "polite" });
  const button = el("button", { class: "primary", type: "submit" }, "Classify");
  const form = el("form", { class: "upload", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return;
    button.disabled = true;
    out.replaceChildren(el("p", { class: "muted" }, `Reading ${f.name}…`));
    try {
      const body = new FormData();
      body.append("image", f, f.name);
      out.replaceChildren(await predictionView(await api("POST", api_, body), f));
    } catch (e) {
      out.replaceChildren(failure(e));
    } finally {
      button.disabled = false;
    }
  } }, el("label", {}, "Document (PNG, JPEG, TIFF or BMP) ", file), button);
  page(`Classify a document · ${p}.${t}`,
    el("p", { class: "muted" }, "The model's own pipeline reads the document as it read its training documents, then the model (its champion) answers."),
    form, out);
}

/** The picture as a data: URL (the page's policy allows no other). */
const dataUrl = (f) => new Promise((ok) => {
  const r = new FileReader();
  r.onload = () => ok(r.result);
  r.onerror = () => ok(null);
  r.readAsDataURL(f);
});

/** A prediction: the class, the confidence (green from 85 %, orange from 60 %), one bar per
 * class, and what the pipeline read. */
async function predictionView(a, f) {
  const pred = a.predictions[0];
  const classes = a.classes || pred.probas.map((_, i) => String(i));
  const pct = (x) => `${(x * 100).toFixed(1)} %`;
  const level = pred.confidence >= 0.85 ? "high" : pred.confidence >= 0.6 ? "medium" : "low";
  const order = pred.probas.map((x, i) => [classes[i], x]).sort((x, y) => y[1] - x[1]);
  const bars = el("table", { class: "bars" }, el("tbody", {}, order.map(([c, x]) => {
    const bar = el("span", { class: "bar" });
    bar.style.width = `${Math.max(0.5, x * 100)}%`;
    return el("tr", { "data-class": c, class: c === String(pred.label) ? "top" : "" },
      el("td", {}, c), el("td", { class: "track" }, bar), el("td", { class: "num" }, pct(x)));
  })));
  const d = a.document || {};
  const src = f && f.type.startsWith("image/") && f.type !== "image/tiff" ? await dataUrl(f) : null;
  return el("div", { class: "result" },
    src ? el("img", { class: "preview", src, alt: "the document" }) : null,
    el("div", {},
      el("h2", { "data-label": String(pred.label) }, String(pred.label)),
      el("p", {}, "Confidence ", el("span", { class: `confidence c-${level}`, "data-confidence": pred.confidence.toFixed(4) }, pct(pred.confidence)),
        ` · model ${a.model} version ${a.version}`),
      bars,
      el("details", {}, el("summary", {}, "What the pipeline read"),
        el("table", { class: "card" }, el("tbody", {}, Object.entries(d).map(([k, v]) =>
          el("tr", {}, el("th", {}, k), el("td", { "data-field": k }, v === null ? "" : String(v)))))))));
}

// ---- routing ----------------------------------------------------------------------------

function showWho() {
  document.getElementById("who").textContent = me ? `${me.user} (${me.role})` : "";
  document.getElementById("logout").hidden = !me;
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch (_) { /* already out */ }
  me = null;
  showWho();
  location.hash = "#/login";
});

async function route() {
  clearTimeout(timer);
  const hash = location.hash.slice(1) || "/";
  if (hash === "/login") return loginPage();
  if (!me) {
    try { me = await api("GET", "/api/me"); showWho(); } catch (_) { return; }
  }
  const parts = hash.split("/").slice(1).map(decodeURIComponent);
  try {
    if (parts[0] === "p" && parts[1]) await pipelinePage(parts[1]);
    else if (parts[0] === "r" && parts[2]) await logPage(parts[1], parts[2]);
    else if (parts[0] === "r" && parts[1]) await runPage(parts[1]);
    else if (parts[0] === "runs") await runsPage();
    else if (parts[0] === "datasets") await datasetsPage();
    else if (parts[0] === "d" && parts[2]) await datasetPage(parts[1], parts[2]);
    else if (parts[0] === "search") await searchPage(parts[1]);
    else if (parts[0] === "lineage") await lineagePage();
    else if (parts[0] === "catalog") await catalogPage(parts[1]);
    else if (parts[0] === "models") await modelsPage();
    else if (parts[0] === "workers") await workersPage();
    else if (parts[0] === "m" && parts[2]) await modelPage(parts[1], parts[2], parts[3]);
    else if (parts[0] === "predict" && parts[2]) await predictPage(parts[1], parts[2]);
    else await pipelinesPage();
  } catch (e) {
    if (e.message !== "logged out") page("Error", failure(e));
  }
}

window.addEventListener("hashchange", route);
route();
