// The sensor map: an SVG drawn from the hub's own data only. Web Mercator projection; the base
// map is the outline GeoJSON the hub serves (and the deployment's own XYZ tiles, when configured).
// Sensors that would overlap are drawn as one cluster in the colour of the most severe of them;
// sensors at the very same place are spread on a ring once the map is zoomed in.

const SVG = "http://www.w3.org/2000/svg";
const TILE = 256;
const CELL = 44;           // pixels: sensors closer than this are clustered
const SPREAD_ZOOM = 13;    // from this zoom, sensors at one place are spread on a ring
const MIN_ZOOM = 3, MAX_ZOOM = 19;

function element(name, attributes = {}, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

/** World pixel coordinates of a longitude/latitude at zoom 0 (multiply by 2^zoom). */
export function project(lon, lat) {
  const clamped = Math.max(-85.05112878, Math.min(85.05112878, lat));
  const sin = Math.sin((clamped * Math.PI) / 180);
  return [((lon + 180) / 360) * TILE, (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * TILE];
}

export function unproject(x, y) {
  const lon = (x / TILE) * 360 - 180;
  const n = Math.PI - (2 * Math.PI * y) / TILE;
  return [lon, (180 / Math.PI) * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n)))];
}

export class SensorMap {
  constructor(container, { colour, label, clusterLabel, onSelect, tiles }) {
    this.container = container;
    this.colour = colour;
    this.label = label;
    this.clusterLabel = clusterLabel;
    this.onSelect = onSelect;
    this.tiles = tiles;
    this.sensors = [];
    this.outlines = [];
    this.center = project(136.5, 34.5);
    this.zoom = 6;
    this.selected = null;
    this.userMoved = false;
    this.fittedCount = 0;
    this.svg = element("svg", { class: "map-svg", "aria-hidden": "false", role: "presentation" }, container);
    this.tileLayer = element("g", { class: "tiles" }, this.svg);
    this.outlineLayer = element("g", { class: "outlines" }, this.svg);
    this.markerLayer = element("g", { class: "markers", role: "list" }, this.svg);
    this.resize();
    new ResizeObserver(() => { this.resize(); this.render(); }).observe(container);
    this.listen();
  }

  resize() {
    const box = this.container.getBoundingClientRect();
    this.width = Math.max(1, box.width);
    this.height = Math.max(1, box.height);
    this.svg.setAttribute("viewBox", `0 0 ${this.width} ${this.height}`);
  }

  get scale() { return 2 ** this.zoom; }

  /** Screen position of world point `p` (zoom-0 pixels). */
  screen(p) {
    return [(p[0] - this.center[0]) * this.scale + this.width / 2, (p[1] - this.center[1]) * this.scale + this.height / 2];
  }

  setOutlines(geojson) {
    this.outlines = [];
    for (const feature of geojson.features ?? []) {
      const geometry = feature.geometry;
      if (!geometry) continue;
      const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
      const lines = geometry.type === "LineString" ? [[geometry.coordinates]] : geometry.type === "MultiLineString" ? [geometry.coordinates] : [];
      for (const rings of [...polygons, ...lines]) {
        this.outlines.push({ name: feature.properties?.name ?? "", closed: polygons.includes(rings), rings: rings.map((ring) => ring.map(([lon, lat]) => project(lon, lat))) });
      }
    }
    this.render();
  }

  /** sensors: [{id, lon, lat, severity, type, name}] */
  setSensors(sensors) {
    this.sensors = sensors.map((s) => ({ ...s, world: project(s.lon, s.lat) }));
    // Follow the sensors as they appear until the viewer moves the map.
    if (!this.userMoved && this.sensors.length !== this.fittedCount) { this.fittedCount = this.sensors.length; this.fit(); return; }
    this.render();
  }

  fit() {
    this.userMoved = false;
    if (!this.sensors.length) return;
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const s of this.sensors) {
      minX = Math.min(minX, s.world[0]); maxX = Math.max(maxX, s.world[0]);
      minY = Math.min(minY, s.world[1]); maxY = Math.max(maxY, s.world[1]);
    }
    this.center = [(minX + maxX) / 2, (minY + maxY) / 2];
    const spanX = Math.max(maxX - minX, 1e-6), spanY = Math.max(maxY - minY, 1e-6);
    const zoom = Math.log2(Math.min((this.width - 80) / spanX, (this.height - 80) / spanY));
    this.zoom = Math.max(MIN_ZOOM, Math.min(15, zoom));
    this.render();
  }

  zoomBy(delta, around) {
    this.userMoved = true;
    const before = this.zoom;
    this.zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, this.zoom + delta));
    if (around) {
      // keep the world point under the pointer where it is
      const factor = 1 - 2 ** (before - this.zoom);
      this.center = [this.center[0] + ((around[0] - this.width / 2) / 2 ** before) * factor,
                     this.center[1] + ((around[1] - this.height / 2) / 2 ** before) * factor];
    }
    this.render();
  }

  panBy(dx, dy) {
    this.userMoved = true;
    this.center = [this.center[0] - dx / this.scale, this.center[1] - dy / this.scale];
    this.render();
  }

  /** Centres on a sensor, zoomed in enough to show it on its own. */
  focus(id) {
    const sensor = this.sensors.find((s) => s.id === id);
    if (!sensor) return;
    this.userMoved = true;
    this.center = sensor.world;
    this.zoom = Math.max(this.zoom, SPREAD_ZOOM);
    this.selected = id;
    this.render();
  }

  select(id) { this.selected = id; this.render(); }

  listen() {
    const pointers = new Map();
    let drag = null, pinch = null;
    this.svg.addEventListener("pointerdown", (event) => {
      pointers.set(event.pointerId, [event.clientX, event.clientY]);
      if (pointers.size === 1) drag = { x: event.clientX, y: event.clientY, moved: 0, target: event.target };
      if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        pinch = { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), zoom: this.zoom };
        drag = null;
      }
    });
    this.svg.addEventListener("pointermove", (event) => {
      if (!pointers.has(event.pointerId)) return;
      const previous = pointers.get(event.pointerId);
      pointers.set(event.pointerId, [event.clientX, event.clientY]);
      if (pinch && pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
        this.zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, pinch.zoom + Math.log2(distance / pinch.distance)));
        this.userMoved = true;
        this.schedule();
      } else if (drag) {
        const dx = event.clientX - previous[0], dy = event.clientY - previous[1];
        drag.moved += Math.abs(dx) + Math.abs(dy);
        if (drag.moved > 4) {
          if (!this.svg.hasPointerCapture(event.pointerId)) this.svg.setPointerCapture(event.pointerId);
          this.userMoved = true;
          this.center = [this.center[0] - dx / this.scale, this.center[1] - dy / this.scale];
          this.schedule();
        }
      }
    });
    const end = (event) => {
      if (drag && drag.moved <= 4 && pointers.size === 1) this.activate(drag.target);
      pointers.delete(event.pointerId);
      if (pointers.size < 2) pinch = null;
      if (pointers.size === 0) drag = null;
    };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", (event) => { pointers.delete(event.pointerId); drag = null; pinch = null; });
    this.svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = this.svg.getBoundingClientRect();
      this.zoomBy(-event.deltaY / 300, [event.clientX - box.left, event.clientY - box.top]);
    }, { passive: false });
    this.container.addEventListener("keydown", (event) => {
      const step = 80;
      const keys = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (event.target.closest?.("[data-entities]") && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.activate(event.target);
      } else if (keys[event.key]) {
        event.preventDefault();
        this.panBy(...keys[event.key]);
      } else if (event.key === "+" || event.key === "=") {
        this.zoomBy(1);
      } else if (event.key === "-" || event.key === "_") {
        this.zoomBy(-1);
      }
    });
  }

  activate(target) {
    const node = target?.closest?.("[data-entities]");
    if (!node) return;
    const ids = node.dataset.entities.split(" ");
    if (ids.length === 1) {
      this.selected = ids[0];
      this.render();
      this.onSelect(ids[0]);
    } else {
      const members = this.sensors.filter((s) => ids.includes(s.id));
      const [x, y] = [members.reduce((a, s) => a + s.world[0], 0) / members.length, members.reduce((a, s) => a + s.world[1], 0) / members.length];
      this.center = [x, y];
      this.focusAfterRender = true;
      this.zoomBy(Math.max(1, Math.min(3, MAX_ZOOM - this.zoom)));
    }
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = null; this.render(); });
  }

  render() {
    if (!this.svg) return;
    this.renderTiles();
    this.renderOutlines();
    this.renderMarkers();
  }

  renderTiles() {
    this.tileLayer.replaceChildren();
    if (!this.tiles) return;
    const z = Math.max(0, Math.min(this.tiles.maxZoom ?? 18, Math.round(this.zoom)));
    const size = TILE * 2 ** (this.zoom - z);
    const n = 2 ** z;
    const [left, top] = [this.center[0] * this.scale - this.width / 2, this.center[1] * this.scale - this.height / 2];
    for (let tx = Math.floor(left / size); tx <= Math.floor((left + this.width) / size); tx++) {
      for (let ty = Math.max(0, Math.floor(top / size)); ty <= Math.min(n - 1, Math.floor((top + this.height) / size)); ty++) {
        const wrapped = ((tx % n) + n) % n;
        const href = this.tiles.url.replace("{z}", z).replace("{x}", wrapped).replace("{y}", ty);
        element("image", { href, x: tx * size - left, y: ty * size - top, width: size + 0.5, height: size + 0.5 }, this.tileLayer);
      }
    }
  }

  renderOutlines() {
    this.outlineLayer.replaceChildren();
    const s = this.scale, ox = this.width / 2 - this.center[0] * s, oy = this.height / 2 - this.center[1] * s;
    for (const outline of this.outlines) {
      let d = "";
      for (const ring of outline.rings) {
        ring.forEach((p, i) => { d += `${i ? "L" : "M"}${(p[0] * s + ox).toFixed(1)},${(p[1] * s + oy).toFixed(1)}`; });
        if (outline.closed) d += "Z";
      }
      const path = element("path", { d, class: outline.closed ? "land" : "line" }, this.outlineLayer);
      if (outline.name) element("title", {}, path).textContent = outline.name;
    }
  }

  renderMarkers() {
    const hadFocus = this.markerLayer.contains(document.activeElement) ? document.activeElement.dataset.entities : null;
    this.markerLayer.replaceChildren();
    const s = this.scale;
    const cells = new Map();
    for (const sensor of this.sensors) {
      const x = sensor.world[0] * s, y = sensor.world[1] * s;
      const key = `${Math.floor(x / CELL)}:${Math.floor(y / CELL)}`;
      let cell = cells.get(key);
      if (!cell) cells.set(key, (cell = []));
      cell.push(sensor);
    }
    const margin = 30;
    const groups = [];
    for (const members of cells.values()) {
      if (members.length === 1 || this.zoom >= SPREAD_ZOOM) {
        // on their own (zoomed in): those that share a spot are spread on a ring
        const spots = new Map();
        for (const m of members) {
          const key = `${Math.round(m.world[0] * s)}:${Math.round(m.world[1] * s)}`;
          if (!spots.has(key)) spots.set(key, []);
          spots.get(key).push(m);
        }
        for (const spot of spots.values()) {
          spot.forEach((m, i) => {
            const [x, y] = this.screen(m.world);
            const radius = spot.length > 1 ? 12 + spot.length * 2.2 : 0;
            const angle = (2 * Math.PI * i) / spot.length;
            groups.push({ members: [m], x: x + radius * Math.cos(angle), y: y + radius * Math.sin(angle), anchor: spot.length > 1 ? [x, y] : null });
          });
        }
      } else {
        const x = members.reduce((a, m) => a + m.world[0], 0) / members.length;
        const y = members.reduce((a, m) => a + m.world[1], 0) / members.length;
        const [sx, sy] = this.screen([x, y]);
        groups.push({ members, x: sx, y: sy });
      }
    }
    // the most severe drawn last (on top)
    const rank = (g) => Math.max(...g.members.map((m) => m.rank));
    groups.sort((a, b) => rank(a) - rank(b));
    let visible = 0;
    for (const group of groups) {
      if (group.x < -margin || group.y < -margin || group.x > this.width + margin || group.y > this.height + margin) continue;
      visible += group.members.length;
      const worst = group.members.reduce((a, m) => (m.rank > a.rank ? m : a));
      const g = element("g", {
        class: group.members.length > 1 ? "cluster" : `marker type-${worst.type}`,
        transform: `translate(${group.x.toFixed(1)},${group.y.toFixed(1)})`,
        tabindex: "0", role: "button",
        "data-entities": group.members.map((m) => m.id).join(" "),
        "data-severity": worst.severity ?? "none",
      }, this.markerLayer);
      if (group.anchor) element("line", { x1: 0, y1: 0, x2: group.anchor[0] - group.x, y2: group.anchor[1] - group.y, class: "spoke" }, g);
      const fill = this.colour(worst.severity);
      if (group.members.length > 1) {
        const r = 11 + Math.min(14, Math.log2(group.members.length) * 3);
        element("circle", { r, fill, class: "shape" }, g);
        const text = element("text", { "text-anchor": "middle", dy: "0.35em", class: "count" }, g);
        text.textContent = group.members.length;
        g.setAttribute("aria-label", this.clusterLabel(group.members.length, worst));
      } else {
        const m = group.members[0];
        if (m.type === "CrowdFlowObserved") element("rect", { x: -7, y: -7, width: 14, height: 14, rx: 3, fill, class: "shape" }, g);
        else if (m.type === "Device") element("path", { d: "M0,-9L8,6L-8,6Z", fill, class: "shape" }, g);
        else element("circle", { r: 8, fill, class: "shape" }, g);
        if (m.acknowledged === false) element("circle", { r: 12, class: "pulse", stroke: fill }, g);
        if (m.id === this.selected) { g.classList.add("selected"); element("circle", { r: 13, class: "ring" }, g); }
        g.setAttribute("aria-label", this.label(m));
      }
      element("title", {}, g).textContent = g.getAttribute("aria-label");
    }
    this.visible = visible;
    const again = hadFocus && [...this.markerLayer.children].find((n) => n.dataset.entities === hadFocus);
    if (again) again.focus({ preventScroll: true });
    else if (this.focusAfterRender) this.markerLayer.querySelector("[data-entities]")?.focus({ preventScroll: true });
    this.focusAfterRender = false;
  }
}
