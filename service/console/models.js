// #/models: every model and its versions (GET /models), refused ones with the reason, and
// a promote button per usable version.

import { get, post } from "./api.js";
import { $, busy, clearMessage, el, fmtNumber, fmtSig, fmtTime, showError, showMessage } from "./ui.js";

let wired = false;

// Image sets: the scores only, with the real data's FD as the yardstick (the job page has the rest).
function imageText(m) {
  return [
    `FD ${fmtSig(m.fd)}${m.fd_real != null ? ` (real ${fmtSig(m.fd_real)})` : ""}`,
    m.class_kl != null ? `KL ${fmtSig(m.class_kl)}` : null,
    m.confidence != null ? `conf ${fmtSig(m.confidence)}` : null,
    m.parzen_nats != null ? `Parzen ${fmtSig(m.parzen_nats)} nats` : null,
  ].filter(Boolean).join(" · ");
}

function metricsText(metrics) {
  if (!metrics || !Object.keys(metrics).length) return "–";
  if (metrics.fd != null) return imageText(metrics);
  const parts = [];
  if (metrics.modes_covered != null) parts.push(`modes ${fmtNumber(metrics.modes_covered)}/${fmtNumber(metrics.num_modes)}`);
  if (metrics.high_quality_pct != null) parts.push(`HQ ${fmtNumber(metrics.high_quality_pct, 1)} %`);
  if (metrics.kl_to_uniform != null) parts.push(`KL ${fmtNumber(metrics.kl_to_uniform, 3)}`);
  for (const [k, v] of Object.entries(metrics)) {
    if (!["modes_covered", "num_modes", "high_quality_pct", "kl_to_uniform"].includes(k)) parts.push(`${k} ${fmtNumber(v)}`);
  }
  return parts.join(" · ");
}

function versionRow(model, v) {
  const meta = v.meta || {};
  const usable = v.status === "ready";
  let action = null;
  if (usable) {
    action = el("button", { type: "button", class: "small", disabled: v.default, dataset: { ref: v.ref } },
      v.default ? "Default" : "Promote");
    action.addEventListener("click", () => busy(action, () => promote(model.name, v.version)));
  }
  const sha = meta.weights_sha256;
  return el("tr", { class: usable ? "" : "refused", dataset: { ref: v.ref } },
    el("th", { scope: "row" }, el("code", {}, v.ref),
      v.default ? el("span", { class: "badge default" }, "default") : null,
      v.loaded ? el("span", { class: "badge loaded", title: `device batch sizes ${(v.device_batch_sizes || []).join(", ")}` }, "loaded") : null),
    el("td", { "data-label": "status" }, el("span", { class: `badge status-${v.status}` }, v.status)),
    el("td", { class: "num", "data-label": "step" }, meta.step != null ? fmtNumber(meta.step) : "–"),
    el("td", { "data-label": "created" }, meta.created ? fmtTime(meta.created) : "–"),
    usable
      ? el("td", { "data-label": "metrics" }, metricsText(meta.metrics))
      : el("td", { "data-label": "refused" }, el("span", { class: "error-text" }, v.refused_reason || "refused")),
    el("td", { "data-label": "sha256" }, sha ? el("code", { title: sha }, sha.slice(0, 12)) : "–"),
    el("td", { class: "action" }, action));
}

function modelCard(model, defaultModel) {
  const first = (model.versions.find((v) => v.meta) || {}).meta || {};
  const refused = model.versions.filter((v) => v.status !== "ready").length;
  const summary = [
    first.dataset ? `${first.dataset}, ${first.output_kind} ${(first.output_shape || []).join("×")}` : null,
    first.classes && first.classes.length ? `conditional on ${first.classes.length} classes` : null,
    `${model.versions.length} version${model.versions.length === 1 ? "" : "s"}`,
    refused ? `${refused} refused` : null,
    model.default_version != null ? `default ${model.name}@${model.default_version}` : "no usable version",
    model.promoted_version != null ? `promoted ${model.promoted_version}` : "not promoted (newest is the default)",
  ].filter(Boolean).join(" · ");
  const rows = [...model.versions].sort((a, b) => b.version - a.version).map((v) => versionRow(model, v));
  return el("article", { class: "card model", dataset: { model: model.name } },
    el("h2", {}, model.name, model.name === defaultModel ? el("span", { class: "badge default" }, "default model") : null),
    el("p", { class: "note" }, summary),
    el("div", { class: "table-scroll" },
      el("table", { class: "versions-table" },
        el("thead", {}, el("tr", {},
          ["version", "status", "step", "created", "metrics / reason", "sha256", ""].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows))));
}

async function refresh() {
  const answer = await get("/models");
  const list = $("models-list");
  if (!answer.models.length) {
    list.replaceChildren(el("p", { class: "note" }, "No model yet: train one on the Jobs page."));
    return;
  }
  list.replaceChildren(...answer.models.map((m) => modelCard(m, answer.default_model)));
}

async function promote(name, version) {
  clearMessage();
  const answer = await post(`/models/${encodeURIComponent(name)}/promote`, { version }, { auth: true });
  showMessage(`${answer.ref} is now the default version of ${answer.model}.`, "info");
  await refresh();
}

export async function enter() {
  if (!wired) {
    wired = true;
    $("models-refresh").addEventListener("click", () => busy($("models-refresh"), refresh));
  }
  try {
    await refresh();
  } catch (err) {
    showError(err);
  }
}
