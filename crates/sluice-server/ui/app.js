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

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && me && me.csrf) headers["x-csrf-token"] = me.csrf;
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
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

/** Tasks in columns by depth (longest path from a root), as boxes linked by arrows. */
function dag(tasks) {
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
  const W = 150, H = 34, GX = 60, GY = 14;
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

async function datasetPage(pipeline, task) {
  const v = await api("GET", `/api/datasets/${encodeURIComponent(pipeline)}/${encodeURIComponent(task)}?rows=20`);
  const fields = Array.isArray(v.schema) ? v.schema : [];
  const shown = fields.map((f) => f.name).filter((n) => v.preview.length && n in v.preview[0]);
  const vectors = fields.filter((f) => String(f.type).startsWith("FixedSizeList"));
  page(v.dataset,
    el("p", { class: "muted" }, `version ${v.latest.version} · ${v.latest.rows} rows · ${v.latest.bytes} bytes · `,
      el("a", { href: `#/r/${v.latest.run_id}` }, `run ${v.latest.run_id}`)),
    vectors.length ? el("p", {}, el("a", { href: `#/search/${encodeURIComponent(v.dataset)}` }, "Search this dataset")) : null,
    el("h2", {}, "Schema"),
    el("table", { class: "schema" }, el("tbody", {}, fields.map((f) => el("tr", {}, el("td", {}, f.name), el("td", {}, f.type),
      el("td", {}, f.nullable ? "nullable" : "not null"))))),
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
    else await pipelinesPage();
  } catch (e) {
    if (e.message !== "logged out") page("Error", failure(e));
  }
}

window.addEventListener("hashchange", route);
route();
