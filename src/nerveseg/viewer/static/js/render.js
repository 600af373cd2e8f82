// What is drawn: the current frame's masks at the current thresholds, the overlay on the
// canvas, and the numbers beside it (stats, Dice, the competition score). Its own module
// because it is the one path from a segmented frame to the screen, shared by frames from
// files, live sources and the threshold sliders; main.js decides which frame, this module
// how it looks.

import { dice } from "./masks.js";
import { drawOverlay } from "./overlay.js";
import { $, state } from "./page.js";
import { renderStats } from "./panel.js";

const view = $("view").getContext("2d");

/** Dropped masks are scored for a model of one structure only (see the top of main.js). */
export function scored() {
  return state.model.structures.length === 1;
}

/** Mean Dice over the labelled frames (empty/empty = 1), or null before any. */
export function competitionScore() {
  const done = state.frames.filter((f) => f.dice !== null && f.dice !== undefined);
  if (!done.length) return null;
  return { score: done.reduce((t, f) => t + f.dice, 0) / done.length, frames: done.length };
}

export function updateStats() {
  const frame = state.frames[state.index];
  const where = state.live
    ? ["source", state.live.name]
    : state.frames.length ? ["frame", `${state.index + 1} / ${state.frames.length}: ${frame?.name}`] : null;
  renderStats($("stats"), where, state.current, competitionScore(), state.fps, state.model?.structures);
}

/** Make `frame` ({name, width, height, gray}) with its `segment` result the current one and
 * draw it; its full-size probabilities are kept for the sliders (one map per structure). */
export function drawFrame(frame, result, truth = null) {
  const { width, height } = frame;
  const model = state.model;
  const fulls = model.structures.length > 1 ? model.fullSizes(result, width, height) : null;
  const full = fulls ? fulls[0] : model.fullSize(result, width, height);
  state.current = { ...frame, full, fulls, result, truth };
  redraw();
}

/** Post-process and draw the current frame: every structure, or only structure `changed`
 * (its threshold moved; the others' masks are kept). */
export function redraw(changed = null) {
  const c = state.current;
  if (!c) return;
  if (c.fulls && changed !== null && c.masks) {
    const presence = c.result.presences ? c.result.presences[changed] : null;
    c.masks[changed] = state.model.maskOf(c.fulls[changed], c.width, c.height, state.settings[changed], presence);
  } else if (c.fulls) {
    c.masks = state.model.masksOf(c.fulls, c.width, c.height, state.settings, c.result.presences);
  } else {
    c.masks = [state.model.maskOf(c.full, c.width, c.height, state.settings[0], c.result.presence)];
  }
  c.mask = c.masks[0];
  drawOverlay(view, c, c.masks, c.truth, state.look, state.model.colours);
  const frame = state.frames[state.index];
  if (frame && frame.name === c.name && c.truth && scored()) frame.dice = dice(c.mask, c.truth);
  state.drawn++;
  // A live source redraws up to 60 times a second: the panel is refreshed 4 times a second.
  const now = performance.now();
  if (!state.live || now - (state.statsAt || 0) > 250) {
    state.statsAt = now;
    updateStats();
  }
}

export function drawPlaceholder(text) {
  const canvas = view.canvas;
  view.fillStyle = "#222";
  view.fillRect(0, 0, canvas.width, canvas.height);
  view.fillStyle = "#eee";
  view.font = "16px sans-serif";
  view.fillText(text, 16, 32);
}
