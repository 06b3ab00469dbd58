// #/jobs/<id>: one job, live. GET /train-jobs/<id> for the record, then its event stream
// (replayed from the start, then live; it ends after the final state): state, progress and
// ETA, charts of the losses, D(x) and D(G(z)), G's gradient norm (and the Fréchet distance at
// each checkpoint on the labelled image sets), the failure flags, the quality metrics, the
// latest samples picture, and cancel / promote.

import { get, post } from "./api.js";
import { lineChart } from "./charts.js";
import {
  $, TERMINAL_STATES, busy, clearMessage, el, fmtDuration, fmtNumber, fmtSig, fmtTime, kvTable,
  showError, showMessage,
} from "./ui.js";

// The failure modes in the words of Goodfellow et al. (2014).
const WARNINGS = {
  d_overpowers_g:
    "The discriminator is overpowering the generator: D rejects the generated samples with high " +
    "confidence, so log(1 − D(G(z))) saturates and the generator's gradient vanishes.",
  mode_collapse:
    "Mode collapse (the “Helvetica scenario”): the generator maps many values of z to the same output.",
};

const COLOURS = {
  d: "#d63a3a", g: "#1f6feb", real: "#1a7f37", fake: "#8250df", ref: "#8c959f", grad: "#bf5700", fd: "#0a7ea4",
};

const NO_METRICS =
  "None: metrics come at checkpoints for the 2-D mixtures and the labelled image sets (digits, mnist-5k, stacked-mnist).";

// Where each kind of quality metric comes from (training/publish.py, evaluation/).
const PROTOCOLS = {
  mixture: "from 2,500 samples (VEEGAN/PacGAN protocol)",
  image: "from 10,000 samples, scored against the held-out split",
  stacked: "from 26,000 samples, each channel's digit read by the mnist-5k classifier",
};

let job = null; // the state of the page: see reset()

function reset(id) {
  return {
    id,
    record: null,
    source: null,
    charts: [],
    steps: [], d: [], g: [], dReal: [], dFake: [], grad: [],
    fdSteps: [], fd: [], fdReal: [], // one point per checkpoint (labelled image sets)
    flags: {}, flagSince: {}, flagSeen: {},
    metrics: null, metricsStep: null,
    versions: [], defaultRef: null,
    state: null, cancelRequested: false,
    samplesKey: null, retry: 0,
    frame: 0, dirty: false,
  };
}

// --- rendering ------------------------------------------------------------------------------

function renderState() {
  const stateEl = $("job-state");
  stateEl.textContent = job.state || "…";
  stateEl.className = `badge state-${job.state}`;
  const live = !TERMINAL_STATES.has(job.state);
  const cancel = $("job-cancel");
  cancel.hidden = !live;
  cancel.disabled = job.cancelRequested;
  cancel.textContent = job.cancelRequested ? "Cancel requested" : "Cancel job";
}

function renderProgress(step, total, eta) {
  job.shownStep = [step, total];
  const fraction = total ? Math.min(1, step / total) : 0;
  $("job-progress").value = fraction;
  const etaText = job.state === "running" && eta != null ? ` · ETA ${fmtDuration(eta)}` : "";
  $("job-progress-text").textContent =
    `step ${fmtNumber(step)} / ${fmtNumber(total)} (${Math.floor(fraction * 100)}%)${etaText}`;
}

function renderWarnings() {
  const box = $("job-warnings");
  const loss = job.record && job.record.config ? job.record.config.loss : null;
  const items = [];
  for (const [flag, text] of Object.entries(WARNINGS)) {
    if (job.flags[flag]) {
      const note = flag === "d_overpowers_g" && loss && loss !== "minimax"
        ? ` (This job's loss is ${loss}, which keeps G's gradient from vanishing, but D is winning.)`
        : "";
      items.push(el("div", { class: "warning", role: "status", dataset: { flag } },
        el("strong", {}, "Warning: "), text + note,
        job.flagSince[flag] != null ? el("span", { class: "note" }, ` Raised at step ${fmtNumber(job.flagSince[flag])}.`) : null));
    } else if (job.flagSeen[flag]) {
      const [a, b] = job.flagSeen[flag];
      items.push(el("p", { class: "note", dataset: { flag } },
        `${flag} was raised earlier (steps ${fmtNumber(a)}–${fmtNumber(b)}) and has cleared.`));
    }
  }
  box.replaceChildren(...items);
}

// Image sets report scores beside the real data's own; the 2-D mixtures and Stacked MNIST count modes.
function metricsKind(m) {
  if (m.fd != null) return "image";
  return m.modes_covered != null && m.high_quality_pct == null ? "stacked" : "mixture";
}

function imageTable(m) {
  const real = (v) => (v != null ? `real data: ${fmtSig(v)}` : "");
  const ratio = m.fd_real ? ` · ${fmtSig(m.fd / m.fd_real)}× real` : "";
  const realSe = m.parzen_real_se != null ? ` ± ${fmtSig(m.parzen_real_se)}` : "";
  const rows = [
    ["fd", "Fréchet distance (classifier features)", fmtSig(m.fd), real(m.fd_real) + ratio],
    ["class_kl", "class balance (KL to uniform)", fmtSig(m.class_kl), real(m.class_kl_real)],
    ["confidence", "confidence", fmtSig(m.confidence), real(m.confidence_real)],
    ["parzen", "Parzen log-likelihood", `${fmtSig(m.parzen_nats)} ± ${fmtSig(m.parzen_se)} nats`,
      m.parzen_real_nats != null ? `real training images: ${fmtSig(m.parzen_real_nats)}${realSe} nats` : ""],
    ["classifier_accuracy", "classifier accuracy (held-out)",
      m.classifier_accuracy != null ? `${fmtNumber(100 * m.classifier_accuracy, 1)} %` : "–", ""],
  ];
  const titles = {
    fd: "lower is better; the real data's is the train split against the held-out split",
    parzen: m.parzen_sigma != null ? `kernel width σ = ${fmtSig(m.parzen_sigma)}` : null,
    classifier_accuracy: "of the classifier whose features and classes give the scores above",
  };
  return el("table", { class: "kv quality" },
    el("thead", {}, el("tr", {}, ["", "generated", "reference"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map(([key, label, value, ref]) =>
      el("tr", { dataset: { metric: key } },
        el("th", { scope: "row", title: titles[key] }, label),
        el("td", { class: "value" }, value),
        el("td", { class: "ref" }, ref)))));
}

function modeTable(m) {
  const rows = [];
  if (m.modes_covered != null) rows.push(["modes covered", `${fmtNumber(m.modes_covered)} of ${fmtNumber(m.num_modes)}`]);
  if (m.high_quality_pct != null) rows.push(["high-quality samples", `${fmtNumber(m.high_quality_pct, 1)} %`]);
  if (m.kl_to_uniform != null) rows.push(["KL to uniform", fmtNumber(m.kl_to_uniform, 4)]);
  for (const [k, v] of Object.entries(m)) {
    if (!["modes_covered", "num_modes", "high_quality_pct", "kl_to_uniform"].includes(k)) rows.push([k, v]);
  }
  return kvTable(rows);
}

function renderMetrics() {
  const box = $("job-metrics");
  const m = job.metrics;
  if (!m || !Object.keys(m).length) {
    box.replaceChildren(el("p", { class: "note" }, NO_METRICS));
    return;
  }
  const kind = metricsKind(m);
  const when = job.metricsStep != null ? `At step ${fmtNumber(job.metricsStep)}` : "At the latest checkpoint";
  box.replaceChildren(kind === "image" ? imageTable(m) : modeTable(m),
    el("p", { class: "note" }, `${when}, ${PROTOCOLS[kind]}.`));
}

function renderVersions() {
  const list = $("job-versions");
  if (!job.versions.length) {
    list.replaceChildren(el("li", { class: "note" }, "None yet: a version is published at each checkpoint."));
    return;
  }
  const name = job.record ? job.record.name : job.versions[0].split("@")[0];
  list.replaceChildren(...[...job.versions].reverse().map((ref) => {
    const version = Number(ref.split("@")[1]);
    const isDefault = ref === job.defaultRef;
    const button = el("button", { type: "button", class: "small", disabled: isDefault, dataset: { ref } },
      isDefault ? "Default" : "Promote");
    button.addEventListener("click", () => busy(button, () => promote(name, version)));
    return el("li", {}, el("code", {}, ref), isDefault ? el("span", { class: "badge default" }, "default") : null, button);
  }));
}

function renderSamples() {
  if (!job.versions.length) return; // the picture is written with each checkpoint
  const key = job.versions[job.versions.length - 1];
  if (key === job.samplesKey) return;
  job.samplesKey = key;
  const img = $("job-samples");
  img.src = `/train-jobs/${encodeURIComponent(job.id)}/samples.png?v=${encodeURIComponent(key)}-${Date.now()}`;
}

function renderCharts() {
  if (job.charts.length !== 4) return;
  const [losses, dOut, grad, fd] = job.charts;
  losses.setData(job.steps, [job.d, job.g]);
  dOut.setData(job.steps, [job.dReal, job.dFake]);
  grad.setData(job.steps, [job.grad]);
  $("job-chart-fd-box").hidden = !job.fdSteps.length;
  fd.setData(job.fdSteps, [job.fd, job.fdReal]);
}

// Coalesce the many events of a replay into one render per frame.
function scheduleRender() {
  if (job.dirty) return;
  job.dirty = true;
  const current = job;
  job.frame = requestAnimationFrame(() => {
    if (current !== job) return;
    job.dirty = false;
    renderCharts();
    renderWarnings();
    renderMetrics();
    renderVersions();
    renderSamples();
  });
}

function renderRecord(record) {
  $("job-title").textContent = `Job ${record.name}`;
  document.title = `${record.name} — GAN console`;
  $("job-dataset-label").textContent =
    `${record.dataset} · created ${fmtTime(record.created_at)}` +
    (record.finished_at ? ` · finished ${fmtTime(record.finished_at)}` : "") +
    (record.attempts > 1 ? ` · ${record.attempts} attempts` : "");
  const error = $("job-error");
  error.hidden = !record.error;
  error.textContent = record.error ? `Error: ${record.error}` : "";
  const config = record.config || {};
  const { arch_config: arch, ...rest } = config;
  $("job-config").replaceChildren(el("div", { class: "preset-tables" },
    kvTable(Object.entries(rest).filter(([, v]) => v !== null), "recipe"),
    arch ? kvTable(Object.entries(arch), "arch_config") : null));
}

// --- data -----------------------------------------------------------------------------------

function addProgress(e) {
  // A resumed job repeats the steps after its last checkpoint: drop what it replaces.
  while (job.steps.length && job.steps[job.steps.length - 1] >= e.step) {
    for (const a of [job.steps, job.d, job.g, job.dReal, job.dFake, job.grad]) a.pop();
  }
  while (job.fdSteps.length && job.fdSteps[job.fdSteps.length - 1] >= e.step) {
    for (const a of [job.fdSteps, job.fd, job.fdReal]) a.pop();
  }
  const losses = e.losses || {};
  job.steps.push(e.step);
  job.d.push(losses.d ?? null);
  job.g.push(losses.g ?? null);
  job.dReal.push(e.d_real ?? null);
  job.dFake.push(e.d_fake ?? null);
  job.grad.push(e.g_grad_norm ?? null);
  for (const [flag, on] of Object.entries(e.flags || {})) {
    if (on && !job.flags[flag]) job.flagSince[flag] = e.step;
    if (on) job.flagSeen[flag] = [job.flagSeen[flag] ? job.flagSeen[flag][0] : e.step, e.step];
    job.flags[flag] = on;
  }
  if (e.metrics && Object.keys(e.metrics).length) {
    // Measured at checkpoints and repeated by the reports after them.
    const changed = JSON.stringify(e.metrics) !== JSON.stringify(job.metrics);
    if (e.published || changed || job.metricsStep == null) job.metricsStep = e.step;
    job.metrics = e.metrics;
    if (e.published && e.metrics.fd != null) {
      job.fdSteps.push(e.step);
      job.fd.push(e.metrics.fd);
      job.fdReal.push(e.metrics.fd_real ?? null);
    }
  }
  if (Array.isArray(e.versions)) job.versions = [...e.versions];
  if (e.published && !job.versions.includes(e.published)) job.versions.push(e.published);
  if (job.state !== "running" && !TERMINAL_STATES.has(job.state)) job.state = "running";
  renderState();
  renderProgress(e.step, e.total_steps, e.eta_s);
  scheduleRender();
}

// The service's catalog notices a new version within its reload interval: until then the job's
// newest version is missing from GET /models, so ask again a few times. (The list answers 200
// either way, where GET /models/<name> would put a 404 in the browser's console.)
async function refreshDefault(tries = 10) {
  if (!job.record || !job.versions.length) return;
  const current = job;
  let known = false;
  try {
    const answer = await get("/models");
    if (current !== job) return;
    const model = answer.models.find((m) => m.name === job.record.name);
    const newest = job.versions[job.versions.length - 1];
    known = Boolean(model && model.versions.some((v) => v.ref === newest));
    job.defaultRef = model && model.default_version != null ? `${model.name}@${model.default_version}` : null;
  } catch {
    // the badge only: the next refresh tries again
  }
  renderVersions();
  clearTimeout(job.retry);
  if (!known && tries > 1) job.retry = setTimeout(() => refreshDefault(tries - 1), 1000);
}

async function reloadRecord() {
  const current = job;
  const record = await get(`/train-jobs/${encodeURIComponent(job.id)}`);
  if (current !== job) return;
  job.record = record;
  renderRecord(record);
}

function onState(data) {
  // The replay of a finished job starts with its earlier states: never leave a final state.
  if (TERMINAL_STATES.has(job.state) && !TERMINAL_STATES.has(data.state)) return;
  job.state = data.state;
  if (data.state === "running" && data.worker) $("job-live").textContent = `running on ${data.worker}`;
  if (data.error) {
    $("job-error").hidden = false;
    $("job-error").textContent = `Error: ${data.error}`;
  }
  renderState();
  if (TERMINAL_STATES.has(data.state)) {
    closeStream();
    $("job-live").textContent = data.note ? `ended: ${data.note}` : "";
    if (job.shownStep) renderProgress(job.shownStep[0], job.shownStep[1], null);
    job.samplesKey = null; // the final checkpoint's picture
    reloadRecord().then(refreshDefault).catch(showError);
    scheduleRender();
  }
}

function openStream() {
  const source = new EventSource(`/train-jobs/${encodeURIComponent(job.id)}/events`);
  job.source = source;
  const parse = (event) => {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  };
  source.addEventListener("open", () => {
    if (!TERMINAL_STATES.has(job.state)) $("job-live").textContent = "live";
  });
  source.addEventListener("state", (event) => {
    const data = parse(event);
    if (data) onState(data);
  });
  source.addEventListener("progress", (event) => {
    const data = parse(event);
    if (data) addProgress(data);
  });
  source.addEventListener("cancel_requested", () => {
    job.cancelRequested = true;
    renderState();
  });
  // `error` is both the server's event (with data: Redis was lost, the stream ends) and the
  // browser's own (no data: the connection dropped; EventSource reconnects by itself).
  source.addEventListener("error", (event) => {
    if (event.data) {
      const data = parse(event) || {};
      showMessage(`event stream: ${data.detail || data.error || data.message || event.data}`);
      closeStream();
      $("job-live").textContent = "stream ended";
    } else if (source.readyState === EventSource.CONNECTING) {
      $("job-live").textContent = "reconnecting…";
    } else if (source.readyState === EventSource.CLOSED) {
      $("job-live").textContent = "stream closed";
    }
  });
}

function closeStream() {
  if (job && job.source) {
    job.source.close();
    job.source = null;
  }
}

// --- actions --------------------------------------------------------------------------------

async function cancel() {
  clearMessage();
  const answer = await post(`/train-jobs/${encodeURIComponent(job.id)}/cancel`, undefined, { auth: true });
  job.cancelRequested = true;
  if (answer && answer.state) job.state = answer.state;
  renderState();
  showMessage(answer.state === "cancelled" ? "Job cancelled." : "Cancel requested: the job stops at its next step.", "info");
}

async function promote(name, version) {
  clearMessage();
  const answer = await post(`/models/${encodeURIComponent(name)}/promote`, { version }, { auth: true });
  job.defaultRef = answer.ref;
  renderVersions();
  showMessage(`${answer.ref} is now the default version of ${answer.model}.`, "info");
}

// --- page -----------------------------------------------------------------------------------

let wired = false;

function wire() {
  if (wired) return;
  wired = true;
  $("job-cancel").addEventListener("click", () => busy($("job-cancel"), cancel).then(renderState));
  const img = $("job-samples");
  img.addEventListener("load", () => {
    // Small image grids are scaled up with sharp pixels; plots are shown at their own size.
    img.classList.toggle("upscale", img.naturalWidth < 320);
    img.hidden = false;
    $("job-samples-none").hidden = true;
  });
  img.addEventListener("error", () => {
    img.hidden = true;
    $("job-samples-none").hidden = false;
  });
}

function clearPage() {
  $("job-title").textContent = "Job";
  $("job-dataset-label").textContent = "";
  $("job-live").textContent = "";
  $("job-error").hidden = true;
  $("job-samples").hidden = true;
  $("job-samples").removeAttribute("src");
  $("job-samples-none").hidden = false;
  $("job-config").replaceChildren();
  $("job-chart-fd-box").hidden = true;
  renderState();
  renderProgress(0, 0, null);
  renderWarnings();
  renderMetrics();
  renderVersions();
}

export async function enter({ id }) {
  wire();
  leave();
  job = reset(id);
  clearPage();
  job.charts = [
    lineChart($("job-chart-losses"), [
      { label: "D loss", stroke: COLOURS.d },
      { label: "G loss", stroke: COLOURS.g },
    ]),
    lineChart($("job-chart-d"), [
      { label: "D(x)", stroke: COLOURS.real },
      { label: "D(G(z))", stroke: COLOURS.fake },
      { label: "0.5", stroke: COLOURS.ref, dash: [4, 4], constant: 0.5 },
    ]),
    lineChart($("job-chart-grad"), [{ label: "‖∇G‖", stroke: COLOURS.grad }]),
    lineChart($("job-chart-fd"), [
      { label: "FD", stroke: COLOURS.fd, points: true },
      { label: "real data", stroke: COLOURS.ref, dash: [4, 4] },
    ]),
  ];
  const current = job;
  let record;
  try {
    record = await get(`/train-jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    showError(err);
    return;
  }
  if (current !== job) return; // left while loading
  job.record = record;
  job.state = record.state;
  job.cancelRequested = Boolean(record.cancel_requested);
  job.versions = [...(record.published || [])];
  job.flags = { ...(record.flags || {}) };
  if (record.metrics && Object.keys(record.metrics).length) job.metrics = record.metrics;
  renderRecord(record);
  renderState();
  renderProgress(record.step, record.total_steps, record.eta_s);
  scheduleRender();
  refreshDefault();
  openStream();
}

export function leave() {
  if (!job) return;
  closeStream();
  cancelAnimationFrame(job.frame);
  clearTimeout(job.retry);
  for (const chart of job.charts) chart.destroy();
  job.charts = [];
  job = reset(null);
}
