// Words of the dashboard in English and Japanese, and the formatting of times and numbers in the
// viewer's language and local time zone (the zone is always shown).

const words = {
  en: {
    skipToAlerts: "Skip to alerts", connecting: "Connecting…", live: "Live", reconnecting: "Connection lost: reconnecting…",
    offline: "Connection lost: retrying in {s} s", soundOff: "Sound off", soundOn: "Sound on",
    soundTitle: "Play a sound when an alert is raised or escalates", switchTenant: "City", mapTitle: "Sensor map",
    mapHelp: "Sensor map. Arrow keys pan, plus and minus zoom, Tab moves through the sensors, Enter opens one.",
    zoomIn: "Zoom in", zoomOut: "Zoom out", zoomFit: "Show all sensors", activeAlerts: "Active alerts",
    noAlerts: "No active alerts.", close: "Close", latestValues: "Latest values", thresholds: "Thresholds",
    history: "History", last24h: "24 h", last7d: "7 days", acknowledgeTitle: "Acknowledge alert", yourName: "Your name",
    cancel: "Cancel", acknowledge: "Acknowledge", acknowledged: "Acknowledged by {by}, {at}", cap: "CAP message",
    show: "Show", loginTitle: "Log in with your API key", loginKey: "API key (kk_…), from your hub's operator",
    loginButton: "Log in", logout: "Log out", loginFailed: "Not logged in: {why}", keyRefused: "Your key is no longer accepted: log in again.",
    chooseTenant: "Which city's data?", tenant: "City", open: "Open", raisedAt: "Raised {at}",
    updatedAt: "updated {at}", normal: "Normal", noData: "No readings in this period.", loading: "Loading…",
    chartFailed: "The history could not be loaded: {why}", sensors: "{n} sensors on the map · map read {at}",
    noThresholds: "No thresholds for this sensor.", levelOf: "{name}: {level}", ownLevel: "{name}: this sensor's {attribute}",
    banner: "{event}: {stage} at {name}", escalated: "Escalated", raised: "Raised", cluster: "{n} sensors, most severe: {stage}",
    markerLabel: "{name}, {type}, {stage}", ackFailed: "Not acknowledged: {why}", loadFailed: "Could not read the hub: {why}",
    value: "{value} (level {level})", averagePerHour: "hourly average, min–max band", readings: "readings",
    lastReading: "last reading {ago}", justNow: "just now", minutesAgo: "{n} min ago", hoursAgo: "{n} h ago", daysAgo: "{n} days ago",
    stale: "Not reporting", markerLabelSeen: "{name}, {type}, {stage}, last reading {ago}",
    types: { WaterObserved: "River gauge", CrowdFlowObserved: "People counter", Device: "Watch tag", FloodMonitoring: "Flood monitor" },
    severities: { informational: "Information", low: "Low", medium: "Medium", high: "High", critical: "Critical" },
  },
  ja: {
    skipToAlerts: "警報一覧へ移動", connecting: "接続中…", live: "受信中", reconnecting: "接続が切れました：再接続中…",
    offline: "接続が切れました：{s} 秒後に再試行", soundOff: "音 オフ", soundOn: "音 オン",
    soundTitle: "警報の発生・悪化時に音を鳴らす", switchTenant: "自治体", mapTitle: "センサー地図",
    mapHelp: "センサー地図。矢印キーで移動、＋と−で拡大縮小、Tab でセンサーを選び Enter で詳細を開きます。",
    zoomIn: "拡大", zoomOut: "縮小", zoomFit: "全センサーを表示", activeAlerts: "発表中の警報",
    noAlerts: "発表中の警報はありません。", close: "閉じる", latestValues: "最新値", thresholds: "基準値",
    history: "推移", last24h: "24時間", last7d: "7日間", acknowledgeTitle: "警報の確認", yourName: "確認者の氏名",
    cancel: "取消", acknowledge: "確認", acknowledged: "{by} が確認（{at}）", cap: "CAP 電文",
    show: "表示", loginTitle: "APIキーでログイン", loginKey: "APIキー（kk_…）：ハブの管理者から受け取ったもの",
    loginButton: "ログイン", logout: "ログアウト", loginFailed: "ログインできません：{why}", keyRefused: "このキーは使えなくなりました。再度ログインしてください。",
    chooseTenant: "どの自治体のデータを表示しますか？", tenant: "自治体", open: "開く", raisedAt: "発表 {at}",
    updatedAt: "更新 {at}", normal: "平常", noData: "この期間の観測値はありません。", loading: "読み込み中…",
    chartFailed: "推移を読み込めませんでした：{why}", sensors: "地図上のセンサー {n} 台・{at} 時点",
    noThresholds: "このセンサーに基準値はありません。", levelOf: "{name}：{level}", ownLevel: "{name}：このセンサーの {attribute}",
    banner: "{event}：{name} で {stage}", escalated: "悪化", raised: "発表", cluster: "センサー {n} 台、最も重い段階：{stage}",
    markerLabel: "{name}、{type}、{stage}", ackFailed: "確認できませんでした：{why}", loadFailed: "ハブから読み込めません：{why}",
    value: "{value}（基準 {level}）", averagePerHour: "1時間平均と最小〜最大の幅", readings: "観測値",
    lastReading: "最終観測 {ago}", justNow: "たった今", minutesAgo: "{n} 分前", hoursAgo: "{n} 時間前", daysAgo: "{n} 日前",
    stale: "通信途絶", markerLabelSeen: "{name}、{type}、{stage}、最終観測 {ago}",
    types: { WaterObserved: "水位計", CrowdFlowObserved: "人流カウンタ", Device: "見守りタグ", FloodMonitoring: "水位監視" },
    severities: { informational: "情報", low: "低", medium: "中", high: "高", critical: "危険" },
  },
};

const units = { MTR: "m", CMT: "cm", MMT: "mm", FOT: "ft", INH: "in", CEL: "°C", FAH: "°F", P1: "%", C62: "", IE: "人", VLT: "V", "2Z": "mV", DBM: "dBm", MQS: "m³/s", E17: "ft³/s" };

let current = "en";

/** The language the browser prefers, or the one chosen before. */
export function initialLanguage() {
  const chosen = localStorage.getItem("kakehashi.language");
  if (chosen === "ja" || chosen === "en") return chosen;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  return preferred.some((l) => l.toLowerCase().startsWith("ja")) ? "ja" : "en";
}

export function setLanguage(language) {
  current = language === "ja" ? "ja" : "en";
  document.documentElement.lang = current;
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of document.querySelectorAll("[data-i18n-aria]")) element.setAttribute("aria-label", t(element.dataset.i18nAria));
  for (const element of document.querySelectorAll("[data-i18n-title]")) element.title = t(element.dataset.i18nTitle);
}

export function language() { return current; }

/** The text of `key`, with `{name}` replaced by `values.name`. */
export function t(key, values = {}) {
  const text = words[current][key] ?? words.en[key] ?? key;
  return String(text).replace(/\{(\w+)\}/g, (_, name) => (values[name] ?? ""));
}

export function typeName(type) { return words[current].types[type] ?? type; }
export function severityName(severity) { return words[current].severities[severity] ?? severity; }
export function unitSymbol(code) { return code == null ? "" : (units[code] ?? code); }

/** A rule's event name in the current language. */
export function eventName(rule) { return rule ? (rule.event?.[current] || rule.event?.en || rule.id) : ""; }

/** The viewer's zone, e.g. "Asia/Tokyo (JST)". */
export function zoneLabel() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const short = new Intl.DateTimeFormat(locale(), { timeZoneName: "short" }).formatToParts(new Date()).find((p) => p.type === "timeZoneName")?.value;
  return short && short !== zone ? `${zone} (${short})` : zone;
}

function locale() { return current === "ja" ? "ja-JP" : "en-GB"; }

/** A time in the viewer's zone, with the zone's short name. */
export function formatTime(value, { seconds = false, date = true } = {}) {
  const time = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(time.getTime())) return "";
  const options = { hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  if (seconds) options.second = "2-digit";
  if (date) Object.assign(options, { month: "numeric", day: "numeric" });
  return new Intl.DateTimeFormat(locale(), options).format(time);
}

/** How long ago `value` was, in words ("12 min ago", "3 時間前"), from `now`. */
export function formatAgo(value, now = Date.now()) {
  const time = value instanceof Date ? value.getTime() : Date.parse(value);
  if (Number.isNaN(time)) return "";
  const minutes = Math.floor(Math.max(0, now - time) / 60000);
  if (minutes < 1) return t("justNow");
  if (minutes < 120) return t("minutesAgo", { n: minutes });
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? t("hoursAgo", { n: hours }) : t("daysAgo", { n: Math.floor(hours / 24) });
}

export function formatAxisTime(value, withDate) {
  const options = withDate ? { month: "numeric", day: "numeric", hour: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale(), options).format(new Date(value));
}

export function formatNumber(value, unitCode) {
  if (typeof value !== "number") return String(value);
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
  const unit = unitSymbol(unitCode);
  return unit ? `${text} ${unit}` : text;
}
