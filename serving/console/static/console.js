// Kairos console: one page over the JSON API. No framework, no build, nothing from a CDN.
// Every number shown is what an API route answered; every text from the API goes in as text.
"use strict";

const KEY = "kairos.apiKey";
const state = { me: null, view: "audience", segments: null, pending: null, inFlight: false };
const timings = [];  // slider move -> count shown (ms), read by the browser benchmark
window.kairosTimings = timings;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const percent = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);
const fixed = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

// --- errors in words --------------------------------------------------------------------

class ApiProblem extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

function explain(problem) {
  if (problem.status === 0) return `The Kairos API cannot be reached: ${problem.message}`;
  if (problem.status === 401) return "This API key is unknown or has been revoked. Sign in with a valid key.";
  if (problem.status === 403) return `Not allowed for your role: ${problem.message}.`;
  if (problem.code === "redis_unavailable" || problem.code === "redis_error")
    return `Redis is down, so the API cannot read scores or counts right now (${problem.message}).`;
  if (problem.code === "no_live_scores")
    return `No live scores yet: ${problem.message}. Run the hourly pipeline (make demo) first.`;
  if (problem.status === 429) return "Too many requests for this key; wait a second and try again.";
  return `The API answered ${problem.status}: ${problem.message}`;
}

function showError(problem) {
  const box = $("error");
  box.textContent = problem ? explain(problem) : "";
  box.hidden = !problem;
  box.dataset.status = problem ? String(problem.status) : "";
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  } catch (err) {
    throw new ApiProblem(0, "unreachable", err.message);
  }
  if (!response.ok) {
    let body = {};
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    throw new ApiProblem(response.status, body.error || "error", body.detail || response.statusText);
  }
  return options.raw ? response : response.json();
}

async function guarded(work) {
  try {
    await work();
    showError(null);
  } catch (problem) {
    if (!(problem instanceof ApiProblem)) throw problem;
    showError(problem);
    if (problem.status === 401) signOut(false);
  }
}

// --- sign-in ----------------------------------------------------------------------------

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  state.me = await api("/v1/me");
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = `${state.me.name} (${state.me.role})`;
  $("role-note").textContent = `Role ${state.me.role} may: ${state.me.may.join(", ")}.`;
  $("admin-tools").hidden = state.me.role !== "admin";
  show(location.hash.slice(1) || "audience");
}

function signOut(clearError = true) {
  sessionStorage.removeItem(KEY);
  state.me = null;
  $("app").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  if (clearError) showError(null);
}

// --- views ------------------------------------------------------------------------------

const VIEWS = { audience: loadAudience, segments: loadSegments, triggers: loadTriggers, health: loadHealth };

function show(view) {
  if (!VIEWS[view]) view = "audience";
  state.view = view;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`view-${tab.dataset.view}`).hidden = !on;
  }
  if (location.hash.slice(1) !== view) history.replaceState(null, "", `#${view}`);
  guarded(VIEWS[view]);
}

// --- audience ---------------------------------------------------------------------------

function filters() {
  const params = new URLSearchParams({
    min_score: $("threshold").value,
    max_score: $("max-score").value || "1",
    decile_from: $("decile-from").value,
    decile_to: $("decile-to").value,
  });
  if ($("segment").value) params.set("segment", $("segment").value);
  return params;
}

async function loadAudience() {
  if ($("decile-from").options.length === 0) {
    for (let d = 1; d <= 10; d++) {
      $("decile-from").append(el("option", { value: String(d), text: String(d) }));
      $("decile-to").append(el("option", { value: String(d), text: String(d) }));
    }
    $("decile-to").value = "10";
  }
  if (!state.segments) {
    state.segments = await api("/v1/segments");
    for (const s of state.segments.segments)
      $("segment").append(el("option", { value: s.name, text: `${s.name} (${number(s.customers)})` }));
  }
  await Promise.all([refreshCount(performance.now()), refreshHistogram(), refreshTop()]);
}

// Slider moves arrive faster than answers: one request at a time, then the latest filter.
function onThreshold() {
  $("threshold-value").textContent = Number($("threshold").value).toFixed(2);
  drawThreshold();
  const began = performance.now();
  if (state.inFlight) { state.pending = began; return; }
  guarded(() => refreshCount(began));
}

async function refreshCount(began) {
  state.inFlight = true;
  try {
    const answer = await api(`/v1/audiences/count?${filters()}`);
    renderCount(answer);
    const ms = performance.now() - began;
    timings.push(ms);
    $("selected-count").dataset.ms = ms.toFixed(1);
  } finally {
    state.inFlight = false;
  }
  if (state.pending !== null) {
    const next = state.pending;
    state.pending = null;
    await refreshCount(next);
  }
}

function renderCount(answer) {
  $("selected-count").textContent = number(answer.total);
  $("selected-count").dataset.total = String(answer.total);
  const range = answer.score_range;
  $("selected-range").textContent = range
    ? `scores ${fixed(range[0])} to ${fixed(range[1])}, run ${answer.run}`
    : `nothing in these deciles (run ${answer.run})`;
  const rows = Object.entries(answer.reach).map(([channel, n]) =>
    el("tr", { "data-channel": channel },
      el("th", { scope: "row", text: channel }),
      el("td", { class: "num", id: `reach-${channel}`, text: number(n) }),
      el("td", { class: "num", text: answer.total ? percent(n / answer.total) : "–" })));
  $("reach-rows").replaceChildren(...rows);
}

async function refreshHistogram() {
  const params = filters();
  const answer = await api(`/v1/audiences/histogram?${params}`);
  state.histogram = answer;
  $("histogram-run").textContent = `(run ${answer.run})`;
  drawHistogram();
}

function drawHistogram() {
  const svg = $("histogram");
  const buckets = state.histogram ? state.histogram.buckets : [];
  const most = Math.max(1, ...buckets.map((b) => b.customers));
  const width = 400 / Math.max(1, buckets.length);
  const ns = "http://www.w3.org/2000/svg";
  const bars = buckets.map((b, i) => {
    const rect = document.createElementNS(ns, "rect");
    const height = (140 * b.customers) / most;
    rect.setAttribute("x", String(i * width + 1));
    rect.setAttribute("y", String(150 - height));
    rect.setAttribute("width", String(width - 2));
    rect.setAttribute("height", String(height));
    rect.dataset.low = String(b.low);
    const title = document.createElementNS(ns, "title");
    title.textContent = `${fixed(b.low, 2)}–${fixed(b.high, 2)}: ${number(b.customers)} customers`;
    rect.append(title);
    return rect;
  });
  const line = document.createElementNS(ns, "line");
  line.id = "threshold-line";
  line.setAttribute("y1", "0");
  line.setAttribute("y2", "150");
  svg.replaceChildren(...bars, line);
  drawThreshold();
}

function drawThreshold() {
  const t = Number($("threshold").value);
  const line = $("threshold-line");
  if (line) { line.setAttribute("x1", String(400 * t)); line.setAttribute("x2", String(400 * t)); }
  for (const rect of $("histogram").querySelectorAll("rect"))
    rect.setAttribute("class", Number(rect.dataset.low) + 0.05 > t ? "on" : "off");
}

async function refreshTop() {
  const answer = await api(`/v1/audiences?${filters()}&limit=20`);
  const rows = answer.customers.map((c, i) =>
    el("tr", {}, el("td", { text: String(i + 1) }), el("td", { text: c.customer_id }),
      el("td", { class: "num", text: fixed(c.score, 4) })));
  $("top-ids").replaceChildren(...rows);
}

async function exportCsv() {
  $("export-note").textContent = "exporting …";
  const response = await api(`/v1/audiences/export?${filters()}`, { raw: true });
  const text = await response.text();
  const lines = text.split("\n").filter((line) => line).length - 1;
  const name = (response.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })),
    download: name ? name[1] : "audience.csv", id: "export-link", text: "download" });
  link.dataset.rows = String(lines);
  $("export-note").replaceChildren(`${number(lines)} customers exported (audited) — `, link);
  link.click();
}

// --- segments ---------------------------------------------------------------------------

const HUES = [210, 150, 35, 280, 0, 95, 185, 320, 55, 250, 15, 120];

async function loadSegments() {
  const answer = await api("/v1/segments");
  state.segments = answer;
  $("grid-run").textContent = `(run ${answer.run}, ${number(answer.rows)} customers)`;
  const names = answer.segments.map((s) => s.name);
  const head = el("tr", {}, el("th", { scope: "col", text: "r \\ fm" }),
    ...[1, 2, 3, 4, 5].map((fm) => el("th", { scope: "col", text: String(fm) })));
  const rows = [5, 4, 3, 2, 1].map((r) => el("tr", {}, el("th", { scope: "row", text: String(r) }),
    ...answer.grid.filter((c) => c.r === r).map((c) => {
      const hue = HUES[names.indexOf(c.segment) % HUES.length];
      const cell = el("td", { "data-r": String(c.r), "data-fm": String(c.fm) },
        el("span", { class: "n", text: answer.has_grid ? number(c.customers) : "–" }),
        el("span", { class: "s", text: c.segment }));
      cell.style.background = `hsl(${hue} 60% 88%)`;
      return cell;
    })));
  $("rfm-grid").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const runs = answer.history.filter((h) => h.status === "live" || h.status === "replaced").slice(0, 6);
  const sizesHead = el("tr", {}, el("th", { scope: "col", text: "Segment" }),
    el("th", { scope: "col", class: "num", text: "Live run" }),
    ...runs.map((h) => el("th", { scope: "col", class: "num", text: (h.scored_at || h.run).slice(5, 16) })));
  const sizes = answer.segments.map((s) => el("tr", { title: s.description },
    el("th", { scope: "row", text: s.name }), el("td", { class: "num", text: number(s.customers) }),
    ...runs.map((h) => el("td", { class: "num", text: number(h.segments[s.name] || 0) }))));
  $("segment-sizes").replaceChildren(el("thead", {}, sizesHead), el("tbody", {}, ...sizes));
}

// --- triggers ---------------------------------------------------------------------------

function outcomes(counts) {
  const parts = Object.entries(counts || {}).map(([outcome, n]) => `${outcome} ${number(n)}`);
  return parts.length ? parts.join(", ") : "none";
}

function lift(row) {
  if (row.lift === null || row.lift === undefined) return "–";
  const points = (x) => `${(100 * x).toFixed(2)} pts`;
  return `${points(row.lift)} [${points(row.sequential_low)}, ${points(row.sequential_high)}]`;
}

async function loadTriggers() {
  const answer = await api("/v1/rules");
  $("rules-version").textContent = `(version ${answer.version}; at most ${answer.max_messages_per_day ?? "any number of"} messages per customer per day)`;
  const admin = state.me && state.me.role === "admin";
  const blocks = answer.rules.map((rule) => {
    const arms = rule.performance.rows.map((row) => el("tr", {},
      el("th", { scope: "row", text: row.arm }), el("td", { class: "num", text: number(row.customers) }),
      el("td", { class: "num", text: percent(row.conversion_rate) }), el("td", { text: lift(row) }),
      el("td", {}, el("span", { class: `status ${row.status}`, text: row.status }))));
    const variants = rule.variants.map((v) => {
      const item = el("li", { text: `${v.name} (${v.channels.join(", ")}, weight ${v.weight})` });
      if (v.paused) item.append(el("span", { class: "status paused", text: " paused" }));
      if (admin) {
        const verb = v.paused ? "unpause" : "pause";
        const button = el("button", { type: "button", class: "quiet", "data-rule": rule.name,
          "data-variant": v.name, "data-verb": verb, text: verb === "pause" ? "Pause" : "Unpause" });
        button.addEventListener("click", () => guarded(() => changeVariant(rule.name, v.name, verb)));
        item.append(" ", button);
      }
      return item;
    });
    return el("div", { class: "rule", "data-rule": rule.name },
      el("h3", { text: rule.name }),
      el("p", { class: "small", text: `${rule.trigger}${rule.when ? ` when ${rule.when}` : ""} · channels ${rule.channels.join(", ")} · cap ${rule.cap} · holdout ${percent(rule.holdout)}` }),
      el("p", { class: "small", text: `Decisions last hour: ${outcomes(rule.decisions.hour)}. Last day: ${outcomes(rule.decisions.day)}.` }),
      el("ul", {}, ...variants),
      arms.length
        ? el("div", { class: "scroll" }, el("table", { "aria-label": `${rule.name} against its holdout` },
            el("thead", {}, el("tr", {}, ...["Arm", "Customers", "Conversion", "Lift (always-valid 95%)", "Status"]
              .map((h) => el("th", { scope: "col", text: h })))), el("tbody", {}, ...arms)))
        : el("p", { class: "small", text: `Not measured yet (as of ${rule.performance.as_of || "never"}).` }));
  });
  $("rules").replaceChildren(...blocks);
}

async function changeVariant(rule, variant, verb) {
  const path = `/v1/admin/rules/${encodeURIComponent(rule)}/variants/${encodeURIComponent(variant)}/${verb}`;
  const body = verb === "pause" ? JSON.stringify({ reason: "paused from the console" }) : undefined;
  await api(path, { method: "POST", body, headers: { "Content-Type": "application/json" } });
  await loadTriggers();
}

async function reloadRules() {
  const answer = await api("/v1/admin/rules/reload", { method: "POST" });
  $("reload-note").textContent = `reloaded: version ${answer.version}, ${answer.rules.length} rules`;
  await loadTriggers();
}

// --- health -----------------------------------------------------------------------------

function facts(id, pairs) {
  $(id).replaceChildren(...pairs.flatMap(([term, value, stale]) =>
    [el("dt", { text: term }), el("dd", stale ? { class: "stale", text: value } : { text: value })]));
}

async function loadHealth() {
  const h = await api("/v1/health");
  const live = h.live;
  facts("health-live", live
    ? [["Run", live.run], ["Scored at", live.scored_at],
       ["Scores age", ago(live.scores_age_seconds), live.scores_age_seconds > live.max_age_seconds],
       ["Live since", ago(live.live_age_seconds)], ["Customers", number(live.rows)]]
    : [["Run", "none live", true]]);
  const model = h.champion || {};
  const holdout = model.holdout || {};
  facts("health-model", [["Model", model.name ? `${model.name} v${model.version}` : "–"],
    ...Object.entries(holdout).sort().map(([k, v]) => [k.replace(/_/g, " "), fixed(v)])]);
  const data = h.data || {};
  facts("health-data", [["Interval", data.interval || "–"], ["Events", number(data.events)],
    ["Quarantine share", percent(data.quarantine_share)], ["Duplicate rate", percent(data.duplicate_rate)],
    ["Identity match rate", percent(data.identity_match_rate)],
    ["Published", h.published_at ? ago(Date.now() / 1000 - h.published_at) : "never"]]);
  facts("health-api", [["API p50", h.api.p50_ms === null ? "–" : `${h.api.p50_ms} ms`],
    ["API p99", h.api.p99_ms === null ? "–" : `${h.api.p99_ms} ms`], ["Requests seen", number(h.api.requests)],
    ["Events backlog", number(h.streams.events)], ["Decisions backlog", number(h.streams.decisions)],
    ["Timers fired", number(h.scheduler.fired)], ["Sends sent", number(h.scheduler.sent)],
    ["Timer lateness p99", h.scheduler.lateness_p99_ms ? `${h.scheduler.lateness_p99_ms} ms` : "–"]]);
  const head = el("tr", {}, ...["Run", "Status", "Scored at", "Customers", "Note"].map((t) => el("th", { scope: "col", text: t })));
  const rows = h.runs.map((r) => el("tr", {}, el("td", { text: r.run }),
    el("td", r.status === "failed" ? { class: "stale", text: r.status } : { text: r.status || "–" }),
    el("td", { text: r.scored_at || "–" }), el("td", { class: "num", text: number(r.rows) }),
    el("td", { text: r.reason || "" })));
  $("health-runs").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

// --- wiring -----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => signIn($("api-key").value.trim()));
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const tab of document.querySelectorAll("[role=tab]"))
    tab.addEventListener("click", () => show(tab.dataset.view));
  document.querySelector("[role=tablist]").addEventListener("keydown", (event) => {
    const tabs = [...document.querySelectorAll("[role=tab]")];
    const at = tabs.findIndex((t) => t.dataset.view === state.view);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step) { const next = tabs[(at + step + tabs.length) % tabs.length]; next.focus(); show(next.dataset.view); }
  });
  $("threshold").addEventListener("input", onThreshold);
  for (const id of ["max-score", "segment", "decile-from", "decile-to"])
    $(id).addEventListener("change", () => guarded(() =>
      Promise.all([refreshCount(performance.now()), refreshHistogram(), refreshTop()])));
  $("threshold").addEventListener("change", () => guarded(refreshTop));
  $("export").addEventListener("click", () => guarded(exportCsv));
  $("reload-rules").addEventListener("click", () => guarded(reloadRules));
  window.addEventListener("hashchange", () => state.me && show(location.hash.slice(1)));
  const saved = sessionStorage.getItem(KEY);
  if (saved) guarded(() => signIn(saved));
});
