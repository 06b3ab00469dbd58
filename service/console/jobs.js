// #/jobs: the newest jobs (refreshed every few seconds while the page is shown) and the form
// that submits a new one, with the preset a built-in dataset will use.

import { get, post } from "./api.js";
import { $, InputError, busy, clearMessage, el, fmtDuration, fmtNumber, fmtTime, kvTable, showError, stateBadge } from "./ui.js";

const REFRESH_MS = 3000;
const CUSTOM = "__custom__";
// Used when GET /train-jobs/presets cannot be read (the names of training/datasets.py).
const FALLBACK_DATASETS = ["ring-8", "grid-25", "gaussian-1d", "digits", "mnist-5k"];

let presets = new Map(); // dataset -> {about, recipe, arch_config}
let timer = 0;
let active = false;
let wired = false;

// --- the list -------------------------------------------------------------------------------

function jobItem(job) {
  const fraction = job.total_steps ? Math.min(1, job.step / job.total_steps) : 0;
  const eta = job.state === "running" && job.eta_s != null ? ` · ETA ${fmtDuration(job.eta_s)}` : "";
  return el("li", { class: "job", dataset: { testid: "job-item", state: job.state } },
    el("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "job-link" },
      el("span", { class: "job-name" }, job.name),
      stateBadge(job.state)),
    el("div", { class: "job-meta" },
      el("span", {}, job.dataset),
      el("span", {}, `step ${fmtNumber(job.step)} / ${fmtNumber(job.total_steps)}${eta}`),
      el("span", {}, el("time", { datetime: job.created_at }, fmtTime(job.created_at)))),
    el("progress", { max: 1, value: fraction, "aria-label": `${job.name}: ${Math.round(fraction * 100)}%` }),
    job.error ? el("p", { class: "error-text" }, job.error) : null);
}

async function refresh() {
  const answer = await get("/train-jobs?limit=50");
  const list = $("jobs-list");
  if (!answer.jobs.length) {
    list.replaceChildren(el("p", { class: "note" }, "No jobs yet: submit one with the form."));
  } else {
    list.replaceChildren(el("ul", { class: "job-list" }, answer.jobs.map(jobItem)));
  }
  $("jobs-total").textContent = `${answer.jobs.length} of ${answer.total}`;
}

function schedule() {
  clearTimeout(timer);
  if (!active) return;
  timer = setTimeout(async () => {
    if (active && document.visibilityState === "visible") {
      try {
        await refresh();
      } catch (err) {
        showError(err);
      }
    }
    schedule();
  }, REFRESH_MS);
}

// --- presets and the form -------------------------------------------------------------------

async function loadPresets() {
  const select = $("job-dataset");
  const previous = select.value;
  let names = FALLBACK_DATASETS;
  try {
    const answer = await get("/train-jobs/presets");
    presets = new Map(answer.presets.map((p) => [p.dataset, p]));
    names = [...presets.keys()];
  } catch (err) {
    presets = new Map();
    showError(err);
  }
  select.replaceChildren(
    ...names.map((name) => el("option", { value: name }, name)),
    el("option", { value: CUSTOM }, "folder: or npz: path…"));
  select.value = previous && [...select.options].some((o) => o.value === previous) ? previous : names[0];
  onDatasetChange();
}

function onDatasetChange() {
  const value = $("job-dataset").value;
  const custom = value === CUSTOM;
  $("job-dataset-path-field").hidden = !custom;
  $("job-dataset-path").required = custom;
  const box = $("job-preset");
  const preset = presets.get(value);
  if (!preset) {
    box.replaceChildren(custom
      ? el("p", { class: "note" }, "Other datasets get the TrainConfig defaults and the family's architecture defaults.")
      : "");
    return;
  }
  box.replaceChildren(
    el("h3", {}, `Preset for ${preset.dataset}`),
    el("p", { class: "note" }, preset.about),
    el("div", { class: "preset-tables" },
      kvTable(Object.entries(preset.recipe).filter(([, v]) => v !== null), "recipe"),
      kvTable(Object.entries(preset.arch_config), "arch_config")),
    el("p", { class: "note" }, "Fields you set (steps, seed, advanced JSON) replace these."));
}

function requestBody() {
  const body = {};
  const advanced = $("job-advanced").value.trim();
  if (advanced) {
    let extra;
    try {
      extra = JSON.parse(advanced);
    } catch (err) {
      $("job-advanced-box").open = true;
      $("job-advanced").focus();
      throw new InputError(`advanced JSON: ${err.message}`);
    }
    if (extra === null || typeof extra !== "object" || Array.isArray(extra)) {
      throw new InputError("advanced JSON must be an object, e.g. {\"loss\": \"hinge\"}");
    }
    Object.assign(body, extra);
  }
  const fields = {};
  const dataset = $("job-dataset").value === CUSTOM ? $("job-dataset-path").value.trim() : $("job-dataset").value;
  if (!dataset) {
    $("job-dataset-path").focus();
    throw new InputError("dataset: write a spec such as folder:faces or npz:points.npz");
  }
  fields.dataset = dataset;
  for (const [id, key] of [["job-steps", "steps"], ["job-seed", "seed"]]) {
    const raw = $(id).value.trim();
    if (raw === "") continue;
    const value = Number(raw);
    if (!Number.isSafeInteger(value)) {
      $(id).focus();
      throw new InputError(`${key} must be a whole number (got '${raw}')`);
    }
    fields[key] = value;
  }
  const name = $("job-name").value.trim();
  if (name) fields.name = name;
  for (const [key, value] of Object.entries(fields)) {
    if (key in body && key !== "dataset" && body[key] !== value) {
      throw new InputError(`${key} is set both in the form (${value}) and in the advanced JSON (${JSON.stringify(body[key])}); keep one`);
    }
    if (key === "dataset" && "dataset" in body && body.dataset !== value) {
      throw new InputError(`dataset is chosen in the form (${value}); remove it from the advanced JSON`);
    }
  }
  return Object.assign(body, fields);
}

async function submit() {
  clearMessage();
  const answer = await post("/train-jobs", requestBody(), { auth: true });
  location.hash = `#/jobs/${encodeURIComponent(answer.id)}`;
}

function wire() {
  if (wired) return;
  wired = true;
  // #job-submit is the form; #job-submit-button its submit button.
  $("job-submit").addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("job-submit-button"), submit);
  });
  $("job-dataset").addEventListener("change", onDatasetChange);
  $("jobs-refresh").addEventListener("click", () => busy($("jobs-refresh"), refresh));
  document.addEventListener("visibilitychange", () => {
    if (active && document.visibilityState === "visible") refresh().catch(showError);
  });
}

export async function enter() {
  wire();
  active = true;
  const jobs = refresh().catch(showError);
  await Promise.all([jobs, loadPresets()]);
  schedule();
}

export function leave() {
  active = false;
  clearTimeout(timer);
}
