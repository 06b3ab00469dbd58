// #/gallery: samples of a model version, large, each linked to its immutable address;
// a grid PNG and a ZIP to download; vector models drawn as a scatter plot or a histogram.
// Conditional models get a class picker: one class for every sample, or every class in turn.

import { post, request } from "./api.js";
import { chosenLabel, fetchModels, fillClassPicker, fillSelect, isVector, modeCentres } from "./catalog.js";
import { histogram, scatter } from "./plots.js";
import { $, InputError, busy, clearMessage, el, intField, randomSeed, saveBlob, showError } from "./ui.js";

const IMAGE_MAX_N = 64;
const VECTOR_MAX_N = 256; // GAN_MAX_SAMPLES_PER_REQUEST's default: a scatter wants many points

// The real data of gaussian-1d (training/datasets.py), drawn over its histogram.
const TARGETS = { "gaussian-1d": { mu: 4, sigma: 0.5 } };

let choices = new Map();
let shown = null; // {ref, seed, n, truncation, label?, points?, dataset} of the result on screen
let wired = false;

const psi = () => Math.round(Number($("gallery-psi").value) * 100) / 100;

function selected() {
  return choices.get($("gallery-model").value) || null;
}

function onModelChange() {
  const choice = selected();
  const nInput = $("gallery-n");
  const vector = isVector(choice);
  nInput.max = String(vector ? VECTOR_MAX_N : IMAGE_MAX_N);
  if (Number(nInput.value) > Number(nInput.max)) nInput.value = nInput.max;
  setDownloads(vector, shown !== null && shown.choice === $("gallery-model").value);
  fillClassPicker($("gallery-class-field"), $("gallery-class"), choice, "every class in turn");
  const meta = choice && choice.meta;
  $("gallery-kind").textContent = meta
    ? `${choice.ref}: ${meta.dataset}, ${meta.output_kind} ${meta.output_shape.join("×")}, ` +
      `trained ${meta.step.toLocaleString("en")} steps (${meta.loss})` +
      (vector ? ` — up to ${VECTOR_MAX_N} points` : "")
    : "";
}

// Grid and ZIP for image models, the points as JSON for vector models; each enabled once
// a result of the selected model is on screen.
function setDownloads(vector, ready) {
  for (const [id, forVector] of [["gallery-grid", false], ["gallery-zip", false], ["gallery-json", true]]) {
    $(id).hidden = vector !== forVector;
    $(id).disabled = !ready;
  }
}

function renderImages(answer, truncation) {
  const results = $("gallery-results");
  const links = answer.samples.map((s, i) => {
    // A conditional model's address names the class (by name: the query reads a name first).
    const name = answer.labels ? answer.labels[i] : null;
    const params = new URLSearchParams();
    if (truncation !== 1) params.set("truncation", String(truncation));
    if (name !== null) params.set("label", name);
    const query = params.toString() ? `?${params}` : "";
    const href = `/samples/${answer.model}/${answer.seed}/${s.index}.png${query}`;
    const what = `seed ${answer.seed} index ${s.index}${name !== null ? ` class ${name}` : ""}`;
    return el("a", { href, class: "cell", title: `${answer.model} ${what}` },
      el("img", {
        src: `data:image/png;base64,${s.png_base64}`,
        alt: `Sample ${s.index} of seed ${answer.seed}${name !== null ? `, class ${name}` : ""} (${answer.model})`,
        class: "pixelated",
        dataset: name !== null ? { index: s.index, label: name } : { index: s.index },
      }),
      name !== null ? el("span", { class: "class-name" }, name) : null);
  });
  results.replaceChildren(...links);
  $("gallery-plot-box").hidden = true;
}

function drawPoints() {
  if (!shown || !shown.points) return;
  const canvas = $("gallery-plot");
  const dim = shown.points.length ? shown.points[0].length : 0;
  const note = $("gallery-plot-note");
  if (dim >= 2) {
    const centres = modeCentres(shown.dataset);
    scatter(canvas, shown.points.map((q) => [q[0], q[1]]), centres);
    note.textContent = (centres ? `Red rings: the ${centres.length} mode centres of ${shown.dataset}. ` : "") +
      (dim > 2 ? `Only the first two of ${dim} dimensions are drawn.` : "");
  } else {
    const target = TARGETS[shown.dataset] || null;
    histogram(canvas, shown.points.map((q) => q[0]), target);
    note.textContent = target ? `Red: the data's density, N(${target.mu}, ${target.sigma}²).` : "";
  }
}

function renderPoints(answer, dataset) {
  $("gallery-results").replaceChildren();
  $("gallery-plot-box").hidden = false;
  shown.points = answer.points;
  shown.labels = answer.labels;
  shown.dataset = dataset;
  drawPoints();
}

async function show() {
  clearMessage();
  const choice = selected();
  if (!choice) throw new InputError("choose a model first (none is published yet?)");
  const body = {
    model: $("gallery-model").value,
    n: intField($("gallery-n"), "n"),
    seed: intField($("gallery-seed"), "seed"),
    truncation: psi(),
    format: "json",
  };
  const label = chosenLabel($("gallery-class-field"), $("gallery-class"));
  if (label !== undefined) body.label = label;
  const answer = await post("/samples", body);
  shown = { ref: answer.model, seed: answer.seed, n: answer.n, truncation: body.truncation, label, choice: body.model };
  let classes = "";
  if (answer.labels) classes = label !== undefined ? ` · class ${answer.labels[0]}` : " · every class in turn";
  const version = $("gallery-version");
  version.replaceChildren(
    el("strong", {}, answer.model), " · seed ", String(answer.seed),
    ` · ${answer.n} sample${answer.n === 1 ? "" : "s"}`, classes,
    body.truncation !== 1 ? ` · ψ ${body.truncation}` : "",
    " · weights sha256 ", el("code", { class: "sha" }, answer.sha256));
  const vector = Array.isArray(answer.points);
  setDownloads(vector, true);
  if (vector) renderPoints(answer, choice.meta.dataset);
  else renderImages(answer, body.truncation);
}

async function download(format) {
  clearMessage();
  if (!shown) return;
  const body = { model: shown.ref, n: shown.n, seed: shown.seed, truncation: shown.truncation, format };
  if (shown.label !== undefined) body.label = shown.label;
  const response = await request("/samples", { method: "POST", body, as: "response" });
  const blob = await response.blob();
  const stem = `${shown.ref.replace("@", "-")}-seed${shown.seed}`;
  let name = format === "grid" ? `${stem}-grid.png` : `${stem}.zip`;
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  if (match && format === "zip") name = `${shown.ref.replace("@", "-")}-${match[1]}`;
  saveBlob(blob, name);
}

function downloadPoints() {
  if (!shown || !shown.points) return;
  const text = JSON.stringify({ model: shown.ref, seed: shown.seed, n: shown.n, truncation: shown.truncation,
    labels: shown.labels, points: shown.points });
  saveBlob(new Blob([text], { type: "application/json" }), `${shown.ref.replace("@", "-")}-seed${shown.seed}.json`);
}

function wire() {
  if (wired) return;
  wired = true;
  $("gallery-form").addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("gallery-show"), show);
  });
  $("gallery-model").addEventListener("change", onModelChange);
  $("gallery-random").addEventListener("click", () => {
    $("gallery-seed").value = String(randomSeed());
  });
  $("gallery-psi").addEventListener("input", () => {
    $("gallery-psi-value").textContent = psi().toFixed(2);
  });
  $("gallery-grid").addEventListener("click", () => busy($("gallery-grid"), () => download("grid")));
  $("gallery-zip").addEventListener("click", () => busy($("gallery-zip"), () => download("zip")));
  $("gallery-json").addEventListener("click", downloadPoints);
  let timer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!$("page-gallery").hidden && !$("gallery-plot-box").hidden) drawPoints();
    }, 150);
  });
}

export async function enter() {
  wire();
  $("gallery-psi-value").textContent = psi().toFixed(2);
  try {
    choices = fillSelect($("gallery-model"), await fetchModels());
    onModelChange();
  } catch (err) {
    showError(err);
  }
}
