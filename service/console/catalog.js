// The model/version choices of the gallery and the walk, from GET /models.
//
// Options: `name` (its default version) first, then each usable `name@version`; refused
// versions are left out. Each option remembers the version it resolves to, so a page knows
// whether it draws images or vectors (meta.output_kind), which dataset (for mode centres) and,
// for a conditional model, its class names (the class picker).

import { get } from "./api.js";
import { el } from "./ui.js";

export async function fetchModels() {
  const answer = await get("/models");
  return answer;
}

// {value -> {ref, name, version, meta}} for the usable choices of a GET /models answer.
export function choicesOf(answer) {
  const choices = new Map();
  for (const model of answer.models || []) {
    const usable = (model.versions || []).filter((v) => v.status === "ready" && v.meta);
    if (!usable.length) continue;
    const def = usable.find((v) => v.version === model.default_version) || usable[usable.length - 1];
    choices.set(model.name, { ref: def.ref, name: model.name, version: def.version, meta: def.meta,
      classes: def.classes || [], isName: true });
    for (const v of [...usable].sort((a, b) => b.version - a.version)) {
      choices.set(v.ref, { ref: v.ref, name: model.name, version: v.version, meta: v.meta,
        classes: v.classes || [], isName: false, isDefault: v.default });
    }
  }
  return choices;
}

function describe(meta) {
  if (!meta) return "";
  const shape = (meta.output_shape || []).join("×");
  return `${meta.dataset}, ${meta.output_kind} ${shape}`;
}

// Fill `select` with the choices, keeping the current value when it still exists,
// else picking `preferred` (the service's default model).
export function fillSelect(select, answer) {
  const choices = choicesOf(answer);
  const previous = select.value;
  select.replaceChildren();
  if (!choices.size) {
    select.append(el("option", { value: "" }, "no model yet (train one on the Jobs page)"));
    select.disabled = true;
    return choices;
  }
  select.disabled = false;
  let group = null;
  for (const [value, c] of choices) {
    if (c.isName) {
      group = el("optgroup", { label: c.name });
      select.append(group);
      group.append(el("option", { value }, `${c.name} — default (${c.ref}, ${describe(c.meta)})`));
    } else {
      group.append(el("option", { value }, `${c.ref}${c.isDefault ? " (default)" : ""}`));
    }
  }
  if (choices.has(previous)) select.value = previous;
  else if (answer.default_model && choices.has(answer.default_model)) select.value = answer.default_model;
  return choices;
}

// Mode centres of the 2-D mixtures (training/datasets.py), else null.
export function modeCentres(dataset) {
  if (dataset === "ring-8") {
    return Array.from({ length: 8 }, (_, k) => [Math.cos((2 * Math.PI * k) / 8), Math.sin((2 * Math.PI * k) / 8)]);
  }
  if (dataset === "grid-25") {
    const g = [-4, -2, 0, 2, 4];
    return g.flatMap((x) => g.map((y) => [x, y]));
  }
  return null;
}

// The class picker of a page: hidden for an unconditional model; for a conditional one, `first`
// (what the service does with no label) then each class name, valued by its index. The class
// chosen before stays chosen when the new model has a class of that name.
export function fillClassPicker(field, select, choice, first) {
  const classes = (choice && choice.classes) || [];
  field.hidden = classes.length === 0;
  const previous = select.value === "" ? "" : select.selectedOptions[0]?.textContent;
  select.replaceChildren(el("option", { value: "" }, first),
    ...classes.map((name, index) => el("option", { value: String(index) }, name)));
  const keep = classes.indexOf(previous);
  select.value = keep >= 0 ? String(keep) : "";
}

// The label to send (a class index), or undefined for the service's default.
export function chosenLabel(field, select) {
  return field.hidden || select.value === "" ? undefined : Number(select.value);
}

export const isVector = (choice) => Boolean(choice && choice.meta && choice.meta.output_kind === "vector");
