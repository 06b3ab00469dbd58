// #/walk: a latent walk between two sample addresses. Image models: the animated WebP
// (format "webp") and the frames as a strip (format "json"); vector models: the frames'
// points (format "json") drawn as a path. Conditional models get a class picker: one class for
// the whole walk; by default the class the gallery gives address a (index_a mod classes).

import { post, request } from "./api.js";
import { chosenLabel, fetchModels, fillClassPicker, fillSelect, isVector, modeCentres } from "./catalog.js";
import { path } from "./plots.js";
import { $, InputError, busy, clearMessage, el, intField, randomSeed, showError } from "./ui.js";

let choices = new Map();
let animationUrl = null;
let drawn = null; // {points, dataset} on the canvas
let wired = false;

const psi = () => Math.round(Number($("walk-psi").value) * 100) / 100;

function body(format) {
  const label = chosenLabel($("walk-class-field"), $("walk-class"));
  return {
    ...(label !== undefined ? { label } : {}),
    model: $("walk-model").value,
    seed_a: intField($("walk-seed-a"), "seed_a"),
    index_a: intField($("walk-index-a"), "index_a"),
    seed_b: intField($("walk-seed-b"), "seed_b"),
    index_b: intField($("walk-index-b"), "index_b"),
    steps: intField($("walk-steps"), "steps"),
    method: $("walk-method").value,
    truncation: psi(),
    frame_ms: intField($("walk-frame-ms"), "frame (ms)"),
    format,
  };
}

function setAnimation(blob) {
  if (animationUrl) URL.revokeObjectURL(animationUrl);
  animationUrl = blob ? URL.createObjectURL(blob) : null;
  const img = $("walk-animation");
  if (animationUrl) img.src = animationUrl;
  else img.removeAttribute("src");
}

function header(answer, extra) {
  $("walk-version").replaceChildren(
    el("strong", {}, answer.model),
    ` · ${answer.method} · ${answer.steps} frames · a = seed ${answer.a.seed} index ${answer.a.index}` +
      ` → b = seed ${answer.b.seed} index ${answer.b.index}` +
      `${answer.label !== undefined ? ` · class ${answer.label}` : ""}${extra}`,
    " · weights sha256 ", el("code", { class: "sha" }, answer.sha256));
}

function drawPath() {
  if (!drawn) return;
  const centres = modeCentres(drawn.dataset);
  path($("walk-plot"), drawn.points, centres);
  $("walk-plot-note").textContent = drawn.points[0] && drawn.points[0].length >= 2
    ? `Frames joined in order from a (green) to b (red)${centres ? `; red rings: the mode centres of ${drawn.dataset}` : ""}.`
    : "The 1-D value of each frame, from a to b.";
}

async function play() {
  clearMessage();
  const choice = choices.get($("walk-model").value);
  if (!choice) throw new InputError("choose a model first (none is published yet?)");
  const truncation = psi();
  const extra = truncation !== 1 ? ` · ψ ${truncation}` : "";
  if (isVector(choice)) {
    const answer = await post("/samples/interpolate", body("json"));
    $("walk-image-box").hidden = true;
    setAnimation(null);
    $("walk-plot-box").hidden = false;
    drawn = { points: answer.points, dataset: choice.meta.dataset };
    drawPath();
    header(answer, extra);
    return;
  }
  // The animation and the strip, fetched together; both are the same frames.
  const [blob, answer] = await Promise.all([
    request("/samples/interpolate", { method: "POST", body: body("webp"), as: "blob" }),
    post("/samples/interpolate", body("json")),
  ]);
  $("walk-plot-box").hidden = true;
  drawn = null;
  setAnimation(blob);
  $("walk-animation").alt = `Animated walk of ${answer.model} from seed ${answer.a.seed} to seed ${answer.b.seed}`;
  $("walk-strip").replaceChildren(...answer.frames.map((f) =>
    el("figure", { class: "frame" },
      el("img", { src: `data:image/png;base64,${f.png_base64}`, alt: `Frame ${f.frame}`, class: "pixelated" }),
      el("figcaption", {}, String(f.frame)))));
  $("walk-image-box").hidden = false;
  header(answer, extra);
}

function onModelChange() {
  fillClassPicker($("walk-class-field"), $("walk-class"), choices.get($("walk-model").value),
    "class of a (default)");
}

function wire() {
  if (wired) return;
  wired = true;
  $("walk-model").addEventListener("change", onModelChange);
  $("walk-form").addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("walk-play"), play);
  });
  $("walk-random").addEventListener("click", () => {
    $("walk-seed-a").value = String(randomSeed());
    $("walk-seed-b").value = String(randomSeed());
  });
  $("walk-psi").addEventListener("input", () => {
    $("walk-psi-value").textContent = psi().toFixed(2);
  });
  let timer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!$("page-walk").hidden && drawn) drawPath();
    }, 150);
  });
}

export async function enter() {
  wire();
  $("walk-psi-value").textContent = psi().toFixed(2);
  try {
    choices = fillSelect($("walk-model"), await fetchModels());
    onModelChange();
  } catch (err) {
    showError(err);
  }
}
