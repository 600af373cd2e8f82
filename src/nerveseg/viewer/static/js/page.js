// What every part of the page shares: its elements by id, the state of what is shown, the
// status the tests wait on, the message line and the network's one-call-at-a-time queue. Its
// own module so that the controls, the downloads and the test API (thresholds.js,
// downloads.js, api.js) read the same state as main.js without importing main.js.

export const $ = (id) => document.getElementById(id);

export const state = {
  model: null,
  frames: [], // {name, source, maskSource, width, height, result, truth, dice, error}
  index: -1,
  settings: null, // the post-processing in use, one per structure: the model's, with the sliders' thresholds
  look: { style: "filled", opacity: Number($("opacity").value) },
  current: null, // what is drawn: {name, width, height, gray, full, fulls, mask, masks, truth, result}
  live: null,
  records: new Map(), // live frames: name -> {width, height, rles (one per structure)}
  playing: false,
  drawn: 0,
  fps: null,
  messageFrame: null,
};

export function setStatus(status) {
  document.body.dataset.status = status;
}

/** A message above the frame; `frame` names the frame it is about (cleared when a frame shows). */
export function showMessage(text, frame = null) {
  state.messageFrame = frame;
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

let queue = Promise.resolve(); // one inference at a time: a session runs one call at a time

export function infer(gray, width, height) {
  const run = queue.then(() => state.model.segment(gray, width, height));
  queue = run.catch(() => {});
  return run;
}

/** Every structure's post-processed mask of a frame at the current settings (one for a model
 * of one structure), from a `segment` result. */
export function masksAt(result, width, height) {
  const model = state.model;
  if (model.structures.length === 1) {
    const full = model.fullSize(result, width, height);
    return [model.maskOf(full, width, height, state.settings[0], result.presence)];
  }
  return model.masksOf(model.fullSizes(result, width, height), width, height, state.settings, result.presences);
}
