// The Kakehashi dashboard: a live map of a tenant's sensors coloured by alert stage, the active
// alerts newest and most severe first, and each sensor's details and history. Everything comes
// from this hub: /dashboard/session, /feeds/map.geojson, /alerts, /feeds/alerts (SSE, resumed
// after a drop from the last event seen) and the NGSI-LD API.

import { initialLanguage, setLanguage, language, t, typeName, severityName, eventName, zoneLabel, formatTime,
  formatAxisTime, formatNumber, unitSymbol, formatAgo } from "./i18n.js";
import { SensorMap } from "./map.js";
import { drawChart } from "./chart.js";

/** Colours by severity (none: no active alert), after the Japanese warning level colours. */
export const COLOURS = { none: "#2f7ed8", informational: "#7fb3d5", low: "#e6d200", medium: "#ff9e00", high: "#ff2800", critical: "#aa00aa" };
const RANK = { none: 0, informational: 1, low: 2, medium: 3, high: 4, critical: 5 };

const state = {
  session: null,
  tenant: null,
  features: new Map(),   // entity id → {id, type, name, lon, lat, properties}
  alerts: new Map(),     // alert id → alert (as GET /alerts gives it)
  lastEventId: 0,
  // The feed's whole position (`12;omuta=5` when other cities share alerts): where a reconnect resumes.
  cursor: null,
  source: null,
  retryDelay: 1000,
  down: false,
  selected: null,
  range: "24h",
  sound: localStorage.getItem("kakehashi.sound") === "on",
  mapReadAt: null,
};

const $ = (id) => document.getElementById(id);
let map;

// --- talking to the hub --------------------------------------------------------------------------

class HubError extends Error {
  constructor(message, status = 0) { super(message); this.status = status; }
}

async function hub(path, { method = "GET", body, ngsi = false } = {}) {
  const headers = { Accept: "application/json" };
  if (ngsi) headers["NGSILD-Tenant"] = state.tenant;
  if (body) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined, cache: "no-store" });
  } catch (error) {
    throw new HubError(error.message || "network error");
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { const problem = await response.json(); detail = problem.detail || problem.title || detail; } catch { /* not JSON */ }
    throw new HubError(detail, response.status);
  }
  return response;
}

const tenantQuery = () => `tenant=${encodeURIComponent(state.tenant)}`;

// --- start ---------------------------------------------------------------------------------------

async function start() {
  setLanguage(initialLanguage());
  wireControls();
  const asked = new URLSearchParams(location.search).get("tenant") || sessionStorage.getItem("kakehashi.tenant");
  let session;
  try {
    session = await (await hub(`/dashboard/session${asked ? `?tenant=${encodeURIComponent(asked)}` : ""}`)).json();
  } catch (error) {
    if (error.status === 401) return login();
    if (asked) { sessionStorage.removeItem("kakehashi.tenant"); }
    try { session = await (await hub("/dashboard/session")).json(); } catch (again) { return again.status === 401 ? login() : fatal(again); }
    if (asked) banner(t("loadFailed", { why: error.message }), "error");
  }
  state.session = session;
  $("switch-tenant").hidden = session.tenants.length < 2;
  $("logout").hidden = !session.keys;
  if (!session.tenant) return chooseTenant();
  state.tenant = session.tenant;
  sessionStorage.setItem("kakehashi.tenant", state.tenant);
  $("tenant-name").textContent = state.tenant;
  document.title = `Kakehashi · ${state.tenant}`;
  map = new SensorMap($("map"), {
    colour: (severity) => COLOURS[severity ?? "none"],
    label: (sensor) => sensor.observedAt
      ? t("markerLabelSeen", { name: sensor.name, type: typeName(sensor.type), stage: stageText(sensor), ago: formatAgo(sensor.observedAt) })
      : t("markerLabel", { name: sensor.name, type: typeName(sensor.type), stage: stageText(sensor) }),
    clusterLabel: (n, worst) => t("cluster", { n, stage: stageText(worst) }),
    onSelect: (id) => openDetails(id),
    tiles: session.tiles,
  });
  drawLegend();
  $("attribution").textContent = session.tiles?.attribution ?? "";
  if (session.outlines) {
    hub(session.outlines).then((r) => r.json()).then((outlines) => {
      map.setOutlines(outlines);
      if (outlines.attribution && !session.tiles) $("attribution").textContent = outlines.attribution;
    }).catch((error) => console.warn("outlines", error));
  }
  try {
    await loadAlerts();
    await loadMap();
  } catch (error) {
    banner(t("loadFailed", { why: error.message }), "error");
  }
  connect();
  setInterval(() => { if (!document.hidden) loadMap().catch(() => {}); }, Math.max(1, session.refreshSeconds) * 1000);
  tick();
  setInterval(tick, 1000);
  // "last reading N min ago" moves on with the clock.
  setInterval(() => { if (!document.hidden) scheduleRender(); }, 30000);
  // A link to one sensor (…/#sensor=urn:ngsi-ld:…) opens its details, also while the page is open.
  addEventListener("hashchange", openLinkedSensor);
  openLinkedSensor();
  document.body.dataset.ready = "1";
}

function linkedSensor() {
  const match = /^#sensor=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function openLinkedSensor() {
  const id = linkedSensor();
  if (id && id !== state.selected) { map.focus(id); openDetails(id); }
}

function fatal(error) {
  setConnection("offline", { s: "—" });
  banner(t("loadFailed", { why: error.message }), "error");
}

// The hub needs a key: ask for one. The hub keeps it in an HttpOnly cookie, which every request
// and the feed then carry; the page never stores it.
function login(problem) {
  setConnection("offline", { s: "—" });
  const dialog = $("login-dialog");
  $("login-error").textContent = problem ?? "";
  $("login-error").hidden = !problem;
  if (!dialog.open) dialog.showModal();
  $("login-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      await hub("/dashboard/login", { method: "POST", body: { key: $("login-key").value.trim() } });
      sessionStorage.removeItem("kakehashi.tenant");
      const url = new URL(location.href);
      url.searchParams.delete("tenant");
      location.assign(url.toString());
    } catch (error) {
      $("login-error").textContent = t("loginFailed", { why: error.message });
      $("login-error").hidden = false;
    }
  };
}

async function logout() {
  try { await hub("/dashboard/logout", { method: "POST" }); } finally { location.reload(); }
}

function chooseTenant() {
  const select = $("tenant-select");
  select.replaceChildren(...state.session.tenants.map((name) => new Option(name, name, false, name === state.tenant)));
  const dialog = $("tenant-dialog");
  dialog.showModal();
  $("tenant-form").onsubmit = () => {
    const url = new URL(location.href);
    url.searchParams.set("tenant", select.value);
    sessionStorage.setItem("kakehashi.tenant", select.value);
    location.assign(url.toString());
  };
}

async function loadAlerts() {
  const response = await hub(`/alerts?${tenantQuery()}&state=active&limit=1000`);
  const list = await response.json();
  state.alerts = new Map(list.map((alert) => [alert.id, alert]));
  state.lastEventId = Number(response.headers.get("Kakehashi-Feed-Position") || 0);
  renderAlerts();
}

async function loadMap() {
  const collection = await (await hub(`/feeds/map.geojson?${tenantQuery()}`)).json();
  const features = new Map();
  for (const feature of collection.features) {
    const [lon, lat] = feature.geometry.coordinates;
    const p = feature.properties;
    // Another city's sensor (shared with this one) says whose it is.
    const name = (p.name || localName(feature.id)) + (p.sharedBy ? ` (${p.sharedBy})` : "");
    features.set(feature.id, { id: feature.id, type: p.type, name, lon, lat, properties: p, sharedBy: p.sharedBy ?? null });
  }
  state.features = features;
  state.mapReadAt = new Date();
  renderMap();
  renderSummary();
  if (state.selected) refreshDetails();
}

// --- the live feed ---------------------------------------------------------------------------------

function connect() {
  if (state.source) state.source.close();
  const resume = encodeURIComponent(state.cursor ?? String(state.lastEventId));
  const source = new EventSource(`/feeds/alerts?${tenantQuery()}&lastEventId=${resume}`);
  state.source = source;
  source.addEventListener("open", () => {
    state.retryDelay = 1000;
    setConnection("live");
    if (state.down) {
      state.down = false;
      loadMap().catch(() => {});
    }
  });
  source.addEventListener("alert", (message) => {
    try {
      state.cursor = message.lastEventId;
      const event = JSON.parse(message.data);
      // Alerts another city shares are on the map (the map feed colours them); the list is this city's.
      if (event.sharedBy) return;
      apply(event, Number(message.lastEventId.split(";")[0]));
    } catch (error) { console.error("bad feed event", error); }
  });
  source.addEventListener("error", () => {
    state.down = true;
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error): a key revoked or expired asks for another;
      // otherwise try again ourselves, resuming from the last event.
      hub("/dashboard/session").catch((error) => { if (error.status === 401) { source.close(); login(t("keyRefused")); } });
      const delay = state.retryDelay;
      state.retryDelay = Math.min(30_000, state.retryDelay * 2);
      setConnection("offline", { s: Math.round(delay / 1000) });
      setTimeout(connect, delay);
    } else {
      setConnection("reconnecting");
    }
  });
}

function apply(event, id) {
  if (id) state.lastEventId = Math.max(state.lastEventId, id);
  const known = state.alerts.get(event.alert);
  if (known && id && known.lastEvent >= id) return;   // already in the list read at start
  switch (event.kind) {
    case "raised":
    case "escalated":
    case "deescalated": {
      const alert = known ?? { id: event.alert, rule: event.rule, entity: event.entity, entityType: event.entityType, raisedAt: event.at };
      Object.assign(alert, { stage: event.stage, stageName: event.stageName, severity: event.severity, value: event.value, level: event.level,
        updatedAt: event.at, lastEvent: id, lastEventKind: event.kind, active: true });
      if (event.lastReadingAt) alert.lastReadingAt = event.lastReadingAt;
      if (event.location && !alert.location) alert.location = event.location;
      state.alerts.set(alert.id, alert);
      if (event.kind !== "deescalated") cue(alert, event.kind);
      break;
    }
    case "cleared":
      state.alerts.delete(event.alert);
      break;
    case "acknowledged":
      if (known) Object.assign(known, { acknowledgedBy: event.by, acknowledgedAt: event.at, lastEvent: id });
      break;
  }
  if (!state.features.has(event.entity)) scheduleMapReload();
  scheduleRender();
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderAlerts();
    renderMap();
    if (state.selected) renderDetailsAlert();
  });
}

let reloadTimer = null;
function scheduleMapReload() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; loadMap().catch(() => {}); }, 1000);
}

function setConnection(kind, values = {}) {
  const box = $("connection");
  box.dataset.state = kind;
  $("connection-text").textContent = t(kind, values);
}

// --- alerts ------------------------------------------------------------------------------------------

function worstByEntity() {
  const worst = new Map();
  for (const alert of state.alerts.values()) {
    const known = worst.get(alert.entity);
    if (!known || rank(alert) > rank(known)) worst.set(alert.entity, alert);
  }
  return worst;
}

const rank = (alert) => (RANK[alert?.severity ?? "none"] ?? 0) * 100 + (alert?.stage ?? 0);
const ruleOf = (alert) => state.session.rules.find((r) => r.id === alert.rule);
const localName = (id) => id.split(":").slice(4).join(":") || id;
const sensorName = (entity) => state.features.get(entity)?.name ?? localName(entity);

function stageText(item) {
  if (!item?.severity || item.severity === "none") return t("normal");
  return item.stageName ? `${item.stageName} (${severityName(item.severity)})` : severityName(item.severity);
}

function sortedAlerts() {
  return [...state.alerts.values()].sort((a, b) => rank(b) - rank(a) || Date.parse(b.raisedAt) - Date.parse(a.raisedAt) || b.id - a.id);
}

const rendered = new Map();   // alert id → {item, signature}: unchanged alerts keep their element

function renderAlerts() {
  const list = $("alerts");
  const focused = document.activeElement?.closest?.("[data-alert]");
  const focusKey = focused ? [focused.closest("li").dataset.alert, document.activeElement.dataset.action] : null;
  const alerts = sortedAlerts();
  $("alert-count").textContent = alerts.length;
  $("no-alerts").hidden = alerts.length > 0;
  const wanted = new Set();
  alerts.forEach((alert, index) => {
    const signature = JSON.stringify([language(), alert.stage, alert.severity, alert.value, alert.updatedAt, alert.acknowledgedBy,
      Boolean(alert.fresh), sensorName(alert.entity)]);
    let entry = rendered.get(alert.id);
    if (!entry || entry.signature !== signature) {
      const item = alertItem(alert);
      if (entry) entry.item.replaceWith(item);
      entry = { item, signature };
      rendered.set(alert.id, entry);
    }
    // How fresh the sensor's data is changes with every reading: updated in place, the item stays.
    fillSeen(entry.item, alert);
    wanted.add(alert.id);
    if (list.children[index] !== entry.item) list.insertBefore(entry.item, list.children[index] ?? null);
  });
  for (const [id, entry] of rendered) {
    if (!wanted.has(id)) { entry.item.remove(); rendered.delete(id); }
  }
  if (focusKey && !list.contains(document.activeElement)) {
    list.querySelector(`li[data-alert="${focusKey[0]}"] [data-action="${focusKey[1]}"]`)?.focus();
  }
}

function alertItem(alert) {
  const item = document.createElement("li");
  item.className = `alert severity-${alert.severity}`;
  item.dataset.alert = alert.id;
  item.dataset.entity = alert.entity;
  item.dataset.severity = alert.severity;
  if (alert.fresh) item.classList.add("fresh");
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.style.background = COLOURS[alert.severity] ?? COLOURS.none;
  badge.textContent = stageText(alert);
  const title = document.createElement("div");
  title.className = "title";
  const event = document.createElement("strong");
  event.textContent = eventName(ruleOf(alert));
  const show = button(sensorName(alert.entity), "show", () => { map.focus(alert.entity); openDetails(alert.entity); });
  show.classList.add("link");
  show.dataset.alert = alert.id;
  title.append(event, " · ", show);
  const value = document.createElement("div");
  value.className = "value";
  const unit = ruleOf(alert)?.unit ?? "";
  if (alert.value != null) {
    const text = (v) => `${formatNumber(v)}${unit ? " " + unit : ""}`;
    value.textContent = alert.level != null ? t("value", { value: text(alert.value), level: text(alert.level) }) : text(alert.value);
  }
  const when = document.createElement("div");
  when.className = "when";
  when.textContent = `${t("raisedAt", { at: formatTime(alert.raisedAt) })} · ${t("updatedAt", { at: formatTime(alert.updatedAt) })}`;
  const seen = document.createElement("div");
  seen.className = "seen";
  const actions = document.createElement("div");
  actions.className = "actions";
  if (alert.acknowledgedBy) {
    const ack = document.createElement("span");
    ack.className = "acknowledged";
    ack.textContent = t("acknowledged", { by: alert.acknowledgedBy, at: formatTime(alert.acknowledgedAt) });
    actions.append(ack);
  } else {
    const ack = button(t("acknowledge"), "acknowledge", () => openAcknowledge(alert));
    ack.dataset.alert = alert.id;
    actions.append(ack);
  }
  const cap = document.createElement("a");
  cap.href = `/feeds/alerts/${alert.id}.cap?${tenantQuery()}`;
  cap.className = "cap";
  cap.textContent = t("cap");
  cap.dataset.action = "cap";
  cap.dataset.alert = alert.id;
  actions.append(cap);
  item.append(badge, title, value, when, seen, actions);
  return item;
}

/** How fresh the alert's sensor data is, and whether it has stopped reporting (a stale rule's alert on it). */
function fillSeen(item, alert) {
  const seen = item.querySelector(".seen");
  if (!seen) return;
  const last = lastReadingOf(alert);
  const stale = isStale(alert);
  const text = last ? t("lastReading", { ago: formatAgo(last) }) : "";
  const key = `${text}|${stale}|${language()}`;
  if (seen.dataset.key === key) return;
  seen.dataset.key = key;
  seen.replaceChildren();
  if (stale) {
    const mark = document.createElement("span");
    mark.className = "stale-mark";
    mark.textContent = t("stale");
    seen.append(mark, text ? " · " : "");
  }
  seen.append(text);
  seen.title = last ? formatTime(last, { seconds: true }) : "";
  item.classList.toggle("stale", stale);
}

/** The sensor's newest reading: from the map (refreshed), or as the alert last said. */
function lastReadingOf(alert) {
  const fromMap = state.features.get(alert.entity)?.properties?.observedAt;
  const candidates = [fromMap, alert.lastReadingAt].filter(Boolean);
  return candidates.sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null;
}

/** Whether a stale rule's alert is active on the alert's sensor (it has stopped reporting). */
function isStale(alert) {
  if (alert.stale) return true;
  for (const other of state.alerts.values()) {
    if (other.entity === alert.entity && other.stageName === "stale" && other.active !== false) return true;
  }
  return false;
}

function button(text, action, handler) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.dataset.action = action;
  b.addEventListener("click", handler);
  return b;
}

// --- escalation cue -----------------------------------------------------------------------------------

function cue(alert, kind) {
  alert.fresh = true;
  setTimeout(() => { alert.fresh = false; scheduleRender(); }, 10_000);
  const text = t("banner", { event: eventName(ruleOf(alert)), stage: stageText(alert), name: sensorName(alert.entity) });
  banner(`${t(kind)}: ${text}`, alert.severity);
  if (state.sound) beep(RANK[alert.severity] ?? 1);
}

let bannerTimer = null;
function banner(text, severity) {
  const box = $("banner");
  box.textContent = text;
  box.dataset.severity = severity;
  box.hidden = false;
  box.classList.remove("flash");
  void box.offsetWidth;
  box.classList.add("flash");
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

let audio;
function beep(level) {
  try {
    audio ??= new AudioContext();
    const now = audio.currentTime;
    for (let i = 0; i < Math.min(3, Math.max(1, level - 2)); i++) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880 + i * 220;
      gain.gain.setValueAtTime(0.2, now + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.25 + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.25);
      osc.stop(now + i * 0.25 + 0.21);
    }
  } catch { /* no audio here */ }
}

// --- acknowledge ------------------------------------------------------------------------------------------

function openAcknowledge(alert) {
  const dialog = $("ack-dialog");
  $("ack-what").textContent = `${eventName(ruleOf(alert))} · ${stageText(alert)} · ${sensorName(alert.entity)}`;
  $("ack-by").value = localStorage.getItem("kakehashi.name") ?? "";
  $("ack-error").hidden = true;
  dialog.dataset.alert = alert.id;
  dialog.showModal();
  $("ack-by").focus();
}

async function submitAcknowledge(event) {
  event.preventDefault();
  const dialog = $("ack-dialog");
  const id = Number(dialog.dataset.alert);
  const by = $("ack-by").value.trim();
  if (!by) return;
  $("ack-submit").disabled = true;
  try {
    const record = await (await hub(`/alerts/${id}/acknowledge?${tenantQuery()}`, { method: "POST", body: { by } })).json();
    localStorage.setItem("kakehashi.name", by);
    apply(record, record.id);
    dialog.close();
    document.querySelector(`li[data-alert="${id}"] [data-action="show"]`)?.focus();
  } catch (error) {
    $("ack-error").textContent = t("ackFailed", { why: error.message });
    $("ack-error").hidden = false;
  } finally {
    $("ack-submit").disabled = false;
  }
}

// --- map ---------------------------------------------------------------------------------------------------

function renderMap() {
  if (!map) return;
  const worst = worstByEntity();
  map.setSensors([...state.features.values()].map((f) => {
    const alert = worst.get(f.id);
    return { id: f.id, lon: f.lon, lat: f.lat, type: f.type, name: f.name, severity: alert?.severity ?? "none",
      stageName: alert?.stageName, rank: rank(alert), acknowledged: alert ? Boolean(alert.acknowledgedBy) : null,
      observedAt: f.properties?.observedAt ?? null };
  }));
}

function renderSummary() {
  $("sensor-summary").textContent = t("sensors", { n: state.features.size, at: state.mapReadAt ? formatTime(state.mapReadAt, { seconds: true, date: false }) : "—" });
}

function drawLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  for (const severity of ["none", "medium", "high", "critical"]) {
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[severity];
    item.append(swatch, severity === "none" ? t("normal") : severityName(severity));
    legend.append(item);
  }
}

// --- details --------------------------------------------------------------------------------------------------

async function openDetails(id) {
  state.selected = id;
  if (linkedSensor() !== id) history.replaceState(null, "", `#sensor=${encodeURIComponent(id)}`);
  map?.select(id);
  const panel = $("details");
  panel.hidden = false;
  panel.dataset.entity = id;
  const feature = state.features.get(id);
  $("details-title").textContent = feature?.name ?? localName(id);
  $("details-kind").textContent = `${typeName(feature?.type ?? id.split(":")[2])} · ${id}`;
  $("details-values").replaceChildren();
  $("details-thresholds").replaceChildren();
  $("chart").textContent = t("loading");
  renderDetailsAlert();
  $("details-close").focus();
  let entity;
  try {
    entity = await (await hub(`/ngsi-ld/v1/entities/${encodeURIComponent(id)}`, { ngsi: true })).json();
  } catch (error) {
    $("chart").textContent = t("chartFailed", { why: error.message });
    return;
  }
  if (state.selected !== id) return;
  panel.entity = entity;
  renderValues(entity);
  renderThresholds(entity);
  await loadChart();
}

/** Re-reads the open sensor's values and chart in place (on each map refresh), so they follow the storm. */
let detailsRefreshing = false;
async function refreshDetails() {
  const id = state.selected;
  if (!id || detailsRefreshing || $("chart").dataset.state === "loading") return;
  detailsRefreshing = true;
  try {
    const entity = await (await hub(`/ngsi-ld/v1/entities/${encodeURIComponent(id)}`, { ngsi: true })).json();
    if (state.selected !== id) return;
    $("details").entity = entity;
    renderValues(entity);
    renderThresholds(entity);
    await loadChart({ quiet: true });
  } catch { /* the next refresh tries again; the connection state says what is wrong */ } finally {
    detailsRefreshing = false;
  }
}

function renderDetailsAlert() {
  const box = $("details-alert");
  const alert = worstByEntity().get(state.selected);
  box.replaceChildren();
  if (!alert) return;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.style.background = COLOURS[alert.severity];
  badge.textContent = `${eventName(ruleOf(alert))} · ${stageText(alert)}`;
  box.append(badge);
}

const properties = (entity) => Object.entries(entity).filter(([, a]) => a && typeof a === "object" && a.type === "Property" && a.value !== undefined);

function renderValues(entity) {
  const list = $("details-values");
  list.replaceChildren();
  for (const [name, attribute] of properties(entity)) {
    if (typeof attribute.value === "object") continue;
    const term = document.createElement("dt");
    term.textContent = name;
    const value = document.createElement("dd");
    const shown = typeof attribute.value === "number" ? formatNumber(attribute.value, attribute.unitCode) : String(attribute.value);
    value.textContent = attribute.observedAt ? `${shown} · ${formatTime(attribute.observedAt, { seconds: true })}` : shown;
    list.append(term, value);
  }
}

/** The thresholds of a sensor: each stage of the rules watching its type, with its level. */
function thresholds(entity) {
  const lines = [];
  for (const rule of state.session.rules.filter((r) => r.type === entity.type && r.kind === "threshold")) {
    for (const stage of rule.stages) {
      const level = stage.level ?? entity[stage.levelAttribute]?.value;
      if (typeof level !== "number") continue;
      lines.push({ rule, name: stage.name, level, severity: stage.severity, colour: COLOURS[stage.severity], attribute: rule.attribute, unit: rule.unit });
    }
  }
  return lines;
}

function renderThresholds(entity) {
  const list = $("details-thresholds");
  list.replaceChildren();
  const lines = thresholds(entity);
  if (!lines.length) {
    const none = document.createElement("li");
    none.textContent = t("noThresholds");
    list.append(none);
  }
  for (const line of lines) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = line.colour;
    item.append(swatch, t("levelOf", { name: `${eventName(line.rule)} ${line.name}`, level: `${formatNumber(line.level)} ${line.unit}`.trim() }));
    list.append(item);
  }
}

/** The attribute to chart: the one the sensor's rules watch, else its first number. */
function chartAttribute(entity) {
  const rule = state.session.rules.find((r) => r.type === entity.type && properties(entity).some(([n]) => n === r.attribute));
  if (rule) return rule.attribute;
  return properties(entity).find(([, a]) => typeof a.value === "number")?.[0];
}

async function loadChart({ quiet = false } = {}) {
  const panel = $("details");
  const entity = panel.entity;
  const box = $("chart");
  if (!entity) return;
  const attribute = chartAttribute(entity);
  if (!attribute) { box.textContent = t("noData"); return; }
  const unitCode = entity[attribute]?.unitCode;
  const to = Date.now();
  const from = to - (state.range === "7d" ? 7 * 24 : 24) * 3600_000;
  const base = `/ngsi-ld/v1/temporal/entities/${encodeURIComponent(entity.id)}?attrs=${attribute}&timerel=after&timeAt=${new Date(from).toISOString()}`;
  const range = state.range;
  if (!quiet) {
    box.textContent = t("loading");
    box.dataset.state = "loading";
  }
  try {
    let points = [], band = null;
    if (state.range === "7d") {
      const data = await (await hub(`${base}&options=aggregatedValues&aggrMethods=avg,min,max&aggrPeriodDuration=PT1H`, { ngsi: true })).json();
      const series = data[attribute] ?? {};
      const middle = (p) => (Date.parse(p[1]) + Date.parse(p[2])) / 2;
      points = (series.avg ?? []).map((p) => ({ t: middle(p), v: p[0] }));
      band = (series.min ?? []).map((p, i) => ({ t: middle(p), min: p[0], max: series.max?.[i]?.[0] ?? p[0] }));
    } else {
      const data = await (await hub(`${base}&options=temporalValues`, { ngsi: true })).json();
      points = (data[attribute]?.values ?? []).filter((p) => typeof p[0] === "number").map((p) => ({ t: Date.parse(p[1]), v: p[0] }));
    }
    if (state.selected !== entity.id || state.range !== range) return;
    const lines = thresholds(entity).filter((l) => l.attribute === attribute);
    const last = points[points.length - 1];
    const summary = `${attribute}: ${points.length} ${t("readings")}${last ? `, ${formatNumber(last.v, unitCode)} ${formatTime(last.t)}` : ""}`;
    $("chart-title").textContent = `${t("history")} · ${attribute}${unitSymbol(unitCode) ? ` (${unitSymbol(unitCode)})` : ""}`;
    if (!points.length) {
      box.textContent = t("noData");
    } else {
      drawChart(box, { points, band, thresholds: lines, from, to, summary,
        formatValue: (v) => formatNumber(v), formatTime: (ms, withDate) => formatAxisTime(ms, withDate) });
      if (band) {
        const note = document.createElement("p");
        note.className = "muted";
        note.textContent = t("averagePerHour");
        box.append(note);
      }
    }
    box.dataset.state = "loaded";
  } catch (error) {
    box.textContent = t("chartFailed", { why: error.message });
    box.dataset.state = "failed";
  }
}

function closeDetails() {
  const id = state.selected;
  state.selected = null;
  $("details").hidden = true;
  if (linkedSensor()) history.replaceState(null, "", location.pathname + location.search);
  map?.select(null);
  const marker = document.querySelector(`#map [data-entities="${CSS.escape(id ?? "")}"]`);
  (marker ?? $("map")).focus();
}

// --- controls --------------------------------------------------------------------------------------------------

function wireControls() {
  $("logout").addEventListener("click", logout);
  $("language").addEventListener("click", () => {
    const next = language() === "ja" ? "en" : "ja";
    localStorage.setItem("kakehashi.language", next);
    setLanguage(next);
    refreshTexts();
  });
  $("sound").addEventListener("click", () => {
    state.sound = !state.sound;
    localStorage.setItem("kakehashi.sound", state.sound ? "on" : "off");
    if (state.sound) beep(3);
    refreshTexts();
  });
  $("switch-tenant").addEventListener("click", chooseTenant);
  $("zoom-in").addEventListener("click", () => map?.zoomBy(1));
  $("zoom-out").addEventListener("click", () => map?.zoomBy(-1));
  $("zoom-fit").addEventListener("click", () => map?.fit());
  $("details-close").addEventListener("click", closeDetails);
  $("ack-form").addEventListener("submit", submitAcknowledge);
  $("ack-cancel").addEventListener("click", () => $("ack-dialog").close());
  for (const tab of document.querySelectorAll("[data-range]")) {
    tab.addEventListener("click", () => {
      state.range = tab.dataset.range;
      for (const other of document.querySelectorAll("[data-range]")) other.setAttribute("aria-selected", String(other === tab));
      loadChart();
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("details").hidden && !$("ack-dialog").open) closeDetails();
  });
  refreshTexts();
}

function refreshTexts() {
  $("language").textContent = language() === "ja" ? "English" : "日本語";
  $("language").lang = language() === "ja" ? "en" : "ja";
  $("sound").setAttribute("aria-pressed", String(state.sound));
  $("sound").firstElementChild.textContent = t(state.sound ? "soundOn" : "soundOff");
  $("zone").textContent = zoneLabel();
  const kind = $("connection").dataset.state;
  if (kind && kind !== "offline") setConnection(kind);
  if (!state.session) return;
  drawLegend();
  renderAlerts();
  renderMap();
  renderSummary();
  if (state.selected) openDetails(state.selected);
}

function tick() {
  const clock = $("clock");
  const now = new Date();
  clock.dateTime = now.toISOString();
  clock.textContent = formatTime(now, { seconds: true });
}

// For tests and operators' consoles: what the page holds.
window.kakehashi = { state, colours: COLOURS, get map() { return map; } };

start();
