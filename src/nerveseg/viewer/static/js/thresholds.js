// The threshold sliders and the legend: one slider per structure, each named and in its
// structure's colour, so the thresholds of a nerve + vessel model are all in view and each is
// moved on its own. Its own module because it is the one place that turns the model's
// structures into controls; main.js only hears which structure's threshold changed.
//
// A model of one structure keeps the page's own slider (#threshold) and legend untouched: the
// page looks and behaves as it did before several structures existed. With several, #threshold
// is the first structure's and a copy of its label is added per further structure
// (#threshold-1, #threshold-2 ... in channel order).

import { $, state } from "./page.js";

const rgb = (colour) => `rgb(${colour.join(",")})`;

function swatch(colour) {
  const box = document.createElement("span");
  box.className = "swatch";
  box.style.background = rgb(colour);
  return box;
}

/** The slider of structure `k`. */
export function slider(k) {
  return $(k === 0 ? "threshold" : `threshold-${k}`);
}

function output(k) {
  return $(k === 0 ? "threshold-value" : `threshold-value-${k}`);
}

/** Write each structure's threshold beside its slider. */
export function showThresholds() {
  state.settings.forEach((params, k) => {
    output(k).textContent = Number(params.threshold).toFixed(2);
  });
}

/** A copy of the first slider's label for structure `k`, its ids numbered. */
function labelFor(k, first) {
  const label = first.cloneNode(true);
  for (const element of label.querySelectorAll("[id]")) element.id = `${element.id}-${k}`;
  return label;
}

/** "Threshold ■ (vessel) 0.40" on one line above the slider: with a slider per structure, the
 * label's usual line per part would take four lines each. */
function oneLine(label, input) {
  const head = document.createElement("span");
  head.className = "row";
  head.append(...[...label.childNodes].filter((node) => node !== input));
  label.prepend(head);
}

/** The legend names each structure in its colour. */
function showLegend(structures, colours) {
  const items = structures.flatMap((name, k) => [swatch(colours[k]), ` ${name} `]);
  const truth = document.createElement("span");
  truth.className = "swatch truth";
  document.querySelector(".legend").replaceChildren(...items, truth, " true mask (every structure, not scored)");
}

/**
 * Set the sliders to the model's thresholds (state.settings) and call `changed(k)` when
 * structure k's threshold moves, after state.settings[k] took the new value.
 */
export function setupThresholds(changed) {
  const { structures, colours } = state.model;
  if (structures.length > 1) {
    const first = slider(0).closest("label");
    let previous = first;
    for (let k = 1; k < structures.length; k++) {
      const label = labelFor(k, first);
      previous.after(label);
      previous = label;
    }
    structures.forEach((name, k) => {
      $(k === 0 ? "threshold-structure" : `threshold-structure-${k}`).replaceChildren(" ", swatch(colours[k]), ` (${name})`);
      slider(k).style.accentColor = rgb(colours[k]);
      slider(k).setAttribute("aria-label", `${name} threshold`);
      oneLine(slider(k).closest("label"), slider(k));
    });
    showLegend(structures, colours);
  }
  structures.forEach((_, k) => {
    slider(k).value = state.settings[k].threshold;
    slider(k).addEventListener("input", (e) => {
      state.settings[k] = { ...state.settings[k], threshold: Number(e.target.value) };
      showThresholds();
      changed(k);
    });
  });
  showThresholds();
}
