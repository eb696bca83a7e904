// A time-series chart in SVG: the readings as a line (or hourly averages with a min–max band),
// each threshold as a dashed line in its severity's colour, times in the viewer's zone.

const SVG = "http://www.w3.org/2000/svg";

function element(name, attributes = {}, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

/**
 * points: [{t (ms), v}] · band: [{t, min, max}] or null · thresholds: [{name, level, colour}]
 * from, to: ms · formatValue(v) · formatTime(ms, withDate) · summary: text for screen readers
 */
export function drawChart(container, { points, band, thresholds, from, to, formatValue, formatTime, summary }) {
  container.replaceChildren();
  const width = Math.max(280, container.clientWidth || 480), height = Math.max(180, Math.min(320, width * 0.5));
  const pad = { left: 56, right: 12, top: 12, bottom: 28 };
  const svg = element("svg", { class: "chart-svg", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": summary }, container);
  element("title", {}, svg).textContent = summary;
  const values = [...points.map((p) => p.v), ...(band ?? []).flatMap((b) => [b.min, b.max]), ...thresholds.map((l) => l.level)];
  let low = Math.min(...values), high = Math.max(...values);
  if (!Number.isFinite(low)) { low = 0; high = 1; }
  if (high - low < 1e-9) { low -= 1; high += 1; }
  const margin = (high - low) * 0.08;
  low -= margin; high += margin;
  const x = (t) => pad.left + ((t - from) / (to - from)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - low) / (high - low)) * (height - pad.top - pad.bottom);

  const grid = element("g", { class: "grid" }, svg);
  const step = niceStep(high - low, 5);
  for (let v = Math.ceil(low / step) * step; v <= high; v += step) {
    element("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }, grid);
    const label = element("text", { x: pad.left - 6, y: y(v), dy: "0.35em", "text-anchor": "end", class: "axis" }, grid);
    label.textContent = formatValue(v);
  }
  const span = to - from;
  const hour = 3600_000;
  const tick = span > 3 * 24 * hour ? 24 * hour : span > 36 * hour ? 12 * hour : span > 12 * hour ? 4 * hour : hour;
  const offset = new Date(from).getTimezoneOffset() * 60_000;
  for (let t = Math.ceil((from - offset) / tick) * tick + offset; t <= to; t += tick) {
    element("line", { x1: x(t), x2: x(t), y1: pad.top, y2: height - pad.bottom }, grid);
    const label = element("text", { x: x(t), y: height - 8, "text-anchor": "middle", class: "axis" }, grid);
    label.textContent = formatTime(t, tick >= 12 * hour);
  }

  if (band?.length) {
    const upper = band.map((b) => `${x(b.t).toFixed(1)},${y(b.max).toFixed(1)}`);
    const lower = band.slice().reverse().map((b) => `${x(b.t).toFixed(1)},${y(b.min).toFixed(1)}`);
    element("path", { d: `M${upper.join("L")}L${lower.join("L")}Z`, class: "band" }, svg);
  }
  for (const line of thresholds) {
    element("line", { x1: pad.left, x2: width - pad.right, y1: y(line.level), y2: y(line.level), class: "threshold", stroke: line.colour, "data-level": line.level }, svg);
    const label = element("text", { x: width - pad.right - 4, y: y(line.level) - 4, "text-anchor": "end", class: "threshold-label", fill: line.colour }, svg);
    label.textContent = `${line.name} ${formatValue(line.level)}`;
  }
  if (points.length) {
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
    element("path", { d, class: "series", "data-points": points.length }, svg);
    const last = points[points.length - 1];
    element("circle", { cx: x(last.t), cy: y(last.v), r: 3.5, class: "last" }, svg);
  }
  return svg;
}
