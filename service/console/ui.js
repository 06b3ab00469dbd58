// Small DOM helpers shared by the pages: building elements, the message area, formatting.

export const $ = (id) => document.getElementById(id);

// el("a", {href: "#/x", class: "y", dataset: {testid: "z"}}, "text", child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// --- the message area (#message) -----------------------------------------------------------

export function showMessage(text, kind = "error") {
  const box = $("message");
  $("message-text").textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
}

export function clearMessage() {
  $("message").hidden = true;
  $("message-text").textContent = "";
}

// Show an error from api.js (or anything thrown) unless it is an aborted fetch.
export function showError(err) {
  if (err && err.name === "AbortError") return;
  showMessage(err && err.message ? err.message : String(err), "error");
  if (!(err && (err.name === "ApiError" || err.name === "InputError"))) console.error(err);
}

// A mistake in what the person typed: shown in the message area, not logged.
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = "InputError";
  }
}

// Run `fn` with `button` disabled and marked busy; errors go to the message area.
export async function busy(button, fn) {
  const buttons = Array.isArray(button) ? button : [button];
  for (const b of buttons) {
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
  }
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    for (const b of buttons) {
      b.disabled = false;
      b.removeAttribute("aria-busy");
    }
  }
}

// --- formatting -----------------------------------------------------------------------------

export function fmtNumber(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return x.toLocaleString("en");
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
  return x.toFixed(digits);
}

// Three significant figures for scores of any scale: 0.000347, 0.124, 4.44, 89.8, 208, -35.9.
export function fmtSig(x, figures = 3) {
  if (typeof x !== "number" || Number.isNaN(x)) return fmtNumber(x);
  const a = Math.abs(x);
  if (a !== 0 && a < 1e-4) return x.toExponential(figures - 1);
  if (a >= 10 ** figures) return Math.round(x).toLocaleString("en");
  return String(Number(x.toPrecision(figures)));
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export const TERMINAL_STATES = new Set(["succeeded", "failed", "cancelled"]);

export function stateBadge(state, attrs = {}) {
  return el("span", { class: `badge state-${state}`, ...attrs }, state);
}

const kvValue = (v) => (typeof v === "number" && Number.isInteger(v) ? fmtNumber(v) : String(v ?? "–"));

// A two-column table of key/value pairs (values formatted; objects as JSON).
export function kvTable(entries, caption) {
  const rows = entries.map(([k, v]) =>
    el("tr", {}, el("th", { scope: "row" }, k),
      el("td", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : kvValue(v))));
  return el("table", { class: "kv" }, caption ? el("caption", {}, caption) : null, el("tbody", {}, rows));
}

// Save a Blob through a temporary link.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// The number in an <input type=number>, or a message naming the field.
export function intField(input, label) {
  const raw = input.value.trim();
  const value = Number(raw);
  const min = input.min === "" ? -Infinity : Number(input.min);
  const max = input.max === "" ? Infinity : Number(input.max);
  if (raw === "" || !Number.isSafeInteger(value) || value < min || value > max) {
    input.focus();
    throw new InputError(`${label} must be a whole number from ${input.min} to ${input.max} (got '${raw}')`);
  }
  return value;
}

export const randomSeed = () => Math.floor(Math.random() * 2 ** 31);
