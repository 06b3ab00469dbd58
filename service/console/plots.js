// Canvas plots of vector samples: a 2-D scatter (with the mixture's mode centres), a 1-D
// histogram, and a walk's path. Drawn at the device's pixel ratio, in the page's colours.

const PAD = { left: 44, right: 12, top: 12, bottom: 30 };

function colours() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    fg: v("--fg", "#1b1f24"),
    muted: v("--muted", "#6a737d"),
    grid: v("--grid", "#e3e6ea"),
    bg: v("--plot-bg", "#ffffff"),
    point: v("--point", "rgba(31, 111, 235, 0.55)"),
    centre: v("--centre", "#d63a3a"),
    accent: v("--accent", "#1f6feb"),
    good: v("--good", "#1a7f37"),
  };
}

// Size the canvas's backing store to its CSS box; returns a context in CSS pixels.
function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(200, canvas.clientWidth || 560);
  const height = Math.max(160, canvas.clientHeight || width);
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const c = colours();
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, width, height);
  return { ctx, width, height, c };
}

// About `count` round tick values covering [lo, hi].
export function niceTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

const label = (t) => (Math.abs(t) >= 1000 || (t !== 0 && Math.abs(t) < 0.01) ? t.toExponential(1) : String(+t.toFixed(3)));

function extent(values, extra = []) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values.concat(extra)) {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return [-1, 1];
  if (hi - lo < 1e-9) return [lo - 1, hi + 1];
  return [lo, hi];
}

// Axes, grid and tick labels for the box [x0, x1] × [y0, y1]; returns the mapping.
function axes(p, [x0, x1], [y0, y1], { xLabel = "", yLabel = "" } = {}) {
  const { ctx, width, height, c } = p;
  const w = width - PAD.left - PAD.right;
  const h = height - PAD.top - PAD.bottom;
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * w;
  const sy = (y) => PAD.top + h - ((y - y0) / (y1 - y0)) * h;
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.strokeStyle = c.grid;
  ctx.fillStyle = c.muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of niceTicks(x0, x1, Math.max(3, Math.round(w / 80)))) {
    ctx.beginPath();
    ctx.moveTo(sx(t), PAD.top);
    ctx.lineTo(sx(t), PAD.top + h);
    ctx.stroke();
    ctx.fillText(label(t), sx(t), PAD.top + h + 4);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of niceTicks(y0, y1, Math.max(3, Math.round(h / 60)))) {
    ctx.beginPath();
    ctx.moveTo(PAD.left, sy(t));
    ctx.lineTo(PAD.left + w, sy(t));
    ctx.stroke();
    ctx.fillText(label(t), PAD.left - 4, sy(t));
  }
  ctx.strokeStyle = c.muted;
  ctx.strokeRect(PAD.left, PAD.top, w, h);
  ctx.fillStyle = c.muted;
  if (xLabel) {
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(xLabel, PAD.left + w - 4, PAD.top + h - 4);
  }
  if (yLabel) {
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(yLabel, PAD.left + 4, PAD.top + 4);
  }
  return { sx, sy, w, h };
}

// Equal scales on x and y around all the points (a circle stays a circle).
function squareBox(xs, ys, p) {
  let [x0, x1] = extent(xs);
  let [y0, y1] = extent(ys);
  const w = p.width - PAD.left - PAD.right;
  const h = p.height - PAD.top - PAD.bottom;
  const span = Math.max((x1 - x0) / w, (y1 - y0) / h) * 1.12;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  x0 = cx - (span * w) / 2;
  x1 = cx + (span * w) / 2;
  y0 = cy - (span * h) / 2;
  y1 = cy + (span * h) / 2;
  return [[x0, x1], [y0, y1]];
}

function ring(ctx, x, y, r) {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.stroke();
}

function legend(p, items) {
  const { ctx, width } = p;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "top";
  let y = PAD.top + 4;
  for (const [text, colour] of items) {
    ctx.fillStyle = colour;
    ctx.fillText(text, width - PAD.right - 6, y);
    y += 14;
  }
}

// points: [[x, y], ...]; centres: [[x, y], ...] or null.
export function scatter(canvas, points, centres = null) {
  const p = prepare(canvas);
  const { ctx, c } = p;
  const all = points.concat(centres || []);
  const [xr, yr] = squareBox(all.map((q) => q[0]), all.map((q) => q[1]), p);
  const { sx, sy } = axes(p, xr, yr);
  // Centres first, as rings, so the samples piled on them stay visible.
  if (centres) {
    ctx.strokeStyle = c.centre;
    ctx.lineWidth = 1.5;
    for (const [x, y] of centres) ring(ctx, sx(x), sy(y), 7);
  }
  ctx.fillStyle = c.point;
  for (const [x, y] of points) {
    ctx.beginPath();
    ctx.arc(sx(x), sy(y), 2.6, 0, 2 * Math.PI);
    ctx.fill();
  }
  const items = [[`${points.length} samples`, c.accent]];
  if (centres) items.push([`○ ${centres.length} mode centres`, c.centre]);
  legend(p, items);
}

const normalPdf = (x, mu, sigma) => Math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * Math.sqrt(2 * Math.PI));

// values: numbers; target: {mu, sigma} of the real data to overlay as a density, or null.
export function histogram(canvas, values, target = null) {
  const p = prepare(canvas);
  const { ctx, c } = p;
  const extra = target ? [target.mu - 3 * target.sigma, target.mu + 3 * target.sigma] : [];
  let [lo, hi] = extent(values, extra);
  const margin = (hi - lo) * 0.05;
  lo -= margin;
  hi += margin;
  const bins = Math.max(8, Math.min(60, Math.round(Math.sqrt(values.length) * 2)));
  const width = (hi - lo) / bins;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))] += 1;
  const density = counts.map((k) => k / (values.length * width));
  let top = Math.max(...density);
  if (target) top = Math.max(top, normalPdf(target.mu, target.mu, target.sigma));
  const { sx, sy } = axes(p, [lo, hi], [0, top * 1.1], { xLabel: "x", yLabel: "density" });
  ctx.fillStyle = c.point;
  density.forEach((d, i) => {
    const x = sx(lo + i * width);
    const x2 = sx(lo + (i + 1) * width);
    ctx.fillRect(x + 0.5, sy(d), Math.max(1, x2 - x - 1), sy(0) - sy(d));
  });
  const items = [[`${values.length} samples`, c.accent]];
  if (target) {
    ctx.strokeStyle = c.centre;
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (let i = 0; i <= 200; i++) {
      const x = lo + ((hi - lo) * i) / 200;
      const y = sy(normalPdf(x, target.mu, target.sigma));
      if (i === 0) ctx.moveTo(sx(x), y);
      else ctx.lineTo(sx(x), y);
    }
    ctx.stroke();
    items.push([`data N(${target.mu}, ${target.sigma}²)`, c.centre]);
  }
  legend(p, items);
}

// A walk's frames joined in order: 2-D points as a path in the plane (with mode centres),
// 1-D values against the frame number.
export function path(canvas, points, centres = null) {
  const p = prepare(canvas);
  const { ctx, c } = p;
  const twoD = points.length && points[0].length >= 2;
  let sx;
  let sy;
  let xy;
  if (twoD) {
    const all = points.concat(centres || []);
    const [xr, yr] = squareBox(all.map((q) => q[0]), all.map((q) => q[1]), p);
    ({ sx, sy } = axes(p, xr, yr));
    xy = points.map(([x, y]) => [sx(x), sy(y)]);
  } else {
    const [y0, y1] = extent(points.map((q) => q[0]));
    const m = (y1 - y0) * 0.1;
    ({ sx, sy } = axes(p, [0, Math.max(1, points.length - 1)], [y0 - m, y1 + m], { xLabel: "frame", yLabel: "x" }));
    xy = points.map(([v], i) => [sx(i), sy(v)]);
  }
  if (twoD && centres) {
    ctx.strokeStyle = c.centre;
    ctx.lineWidth = 1.5;
    for (const [x, y] of centres) ring(ctx, sx(x), sy(y), 7);
  }
  ctx.strokeStyle = c.accent;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  xy.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
  ctx.stroke();
  ctx.fillStyle = c.accent;
  for (const [x, y] of xy) {
    ctx.beginPath();
    ctx.arc(x, y, 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  if (xy.length) {
    const ends = [[xy[0], c.good, "a"], [xy[xy.length - 1], c.centre, "b"]];
    ctx.font = "bold 12px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    for (const [[x, y], colour, name] of ends) {
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, 2 * Math.PI);
      ctx.fill();
      const right = x > p.width - PAD.right - 20; // keep the label inside the plot
      ctx.textAlign = right ? "right" : "left";
      ctx.fillText(name, right ? x - 6 : x + 6, y - 4);
    }
  }
  const items = [[`${points.length} frames, a → b`, c.accent]];
  if (twoD && centres) items.push([`○ ${centres.length} mode centres`, c.centre]);
  legend(p, items);
}
