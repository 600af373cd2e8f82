// The viewer page: frames from files, a folder, frames.json, a video or a camera; the model's
// mask drawn over each; live threshold and opacity; Dice against dropped masks; downloads.
// `window.viewer` exposes the state to tests and the benchmark.
//
// A model of several structures (nerve, vessel ...) draws each structure in its colour with
// its own post-processing; the threshold slider and the downloads are the first structure's
// (the one a Kaggle submission holds). A dropped mask is outlined but not scored: which value
// or palette colour means which structure is the run's data.structures, which the page does
// not read (nerveseg evaluate scores each structure).

import { loadModel } from "./model.js";
import { downloadCsv, downloadMask, downloadZip } from "./downloads.js";
import { bytesOf, decodeImage, decodeMask, droppedFiles, sortFiles } from "./frames.js";
import { rgbaToGray } from "./imaging.js";
import { LiveSource } from "./live.js";
import { area, dice, rleDecode, rleEncode } from "./masks.js";
import { drawOverlay } from "./overlay.js";
import { modelSummary, renderStats } from "./panel.js";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const view = $("view").getContext("2d");
const state = {
  model: null,
  frames: [], // {name, source, maskSource, width, height, result, truth, dice, error}
  index: -1,
  settings: null, // the post-processing in use: the model's, with the slider's threshold
  look: { style: "filled", opacity: Number($("opacity").value) },
  current: null, // what is drawn: {name, width, height, gray, full, mask, truth, result}
  live: null,
  records: new Map(), // live frames: name -> {width, height, rle}
  playing: false,
  drawn: 0,
  fps: null,
  messageFrame: null,
};
let queue = Promise.resolve(); // one inference at a time: a session runs one call at a time

function setStatus(status) {
  document.body.dataset.status = status;
}

/** A message above the frame; `frame` names the frame it is about (cleared when a frame shows). */
function showMessage(text, frame = null) {
  state.messageFrame = frame;
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

function infer(gray, width, height) {
  const run = queue.then(() => state.model.segment(gray, width, height));
  queue = run.catch(() => {});
  return run;
}

// --- the model and the page's settings ------------------------------------------------------

async function start() {
  setStatus("loading");
  const threads = Number(query.get("threads")) || undefined;
  state.model = await loadModel(new URL("./", location.href), { threads, provider: query.get("provider") });
  const { info, provider, structures, colours } = state.model;
  state.settings = { ...info.postprocess };
  $("threshold").value = info.postprocess.threshold;
  if (structures.length > 1) showStructures(structures, colours);
  $("model-info").textContent =
    modelSummary(state.model);
  updateLabels();
  setStatus("ready");
  const listed = await fetch("frames.json").then((r) => (r.ok ? r.json() : { frames: [] })).catch(() => ({ frames: [] }));
  if (listed.frames.length) {
    openFrames(listed.frames.map((f) => ({ name: f.name, source: f.image, maskSource: f.mask || null })));
  }
}

/** The legend names each structure in its colour; the slider says whose threshold it moves. */
function showStructures(structures, colours) {
  $("threshold-structure").textContent = ` (${structures[0]})`;
  const legend = document.querySelector(".legend");
  const items = structures.flatMap((name, k) => {
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${colours[k].join(",")})`;
    return [swatch, ` ${name} `];
  });
  const truth = document.createElement("span");
  truth.className = "swatch truth";
  legend.replaceChildren(...items, truth, " true mask (every structure, not scored)");
}

/** Full-size probabilities of every structure when there are several (null for one). */
function fullsOf(result, width, height) {
  return state.model.structures.length > 1 ? state.model.fullSizes(result, width, height) : null;
}

function updateLabels() {
  $("threshold-value").textContent = Number(state.settings?.threshold ?? $("threshold").value).toFixed(2);
  $("opacity-value").textContent = state.look.opacity.toFixed(2);
}

// --- frames from files ---------------------------------------------------------------------

function openFiles(fileList) {
  const { images, masks, videos, ignored } = sortFiles(Array.from(fileList));
  if (videos.length) return openVideo(videos[0]);
  if (!images.length && masks.size) return attachMasks(masks);
  if (!images.length) {
    showMessage(`nothing to show: ${ignored.join(", ") || "no files"} (drop TIFF, PNG or JPEG scans, or a video)`);
    return;
  }
  openFrames(images.map((f) => ({ name: f.name, source: f.source, maskSource: masks.get(f.name) || null })));
}

function openFrames(entries) {
  stopLive();
  showMessage("");
  state.frames = entries.map((e) => ({ ...e, result: null, truth: null, dice: null, error: null }));
  $("frame").max = Math.max(state.frames.length - 1, 0);
  show(0).then(scoreAll);
}

function attachMasks(masks) {
  let matched = 0;
  for (const frame of state.frames) {
    if (masks.has(frame.name)) {
      frame.maskSource = masks.get(frame.name);
      frame.truth = null;
      frame.dice = null;
      matched++;
    }
  }
  showMessage(matched ? "" : `none of the ${masks.size} mask(s) matches a frame's name (NAME_mask.png for NAME.png)`);
  show(Math.max(state.index, 0)).then(scoreAll);
}

/** Decode (and segment, once) a frame; the gray pixels are not kept beyond the current one. */
async function prepare(frame) {
  const decoded = await decodeImage(await bytesOf(frame.source));
  frame.width = decoded.width;
  frame.height = decoded.height;
  if (!frame.result) frame.result = await infer(decoded.gray, decoded.width, decoded.height);
  if (frame.maskSource && !frame.truth) {
    let truth;
    try {
      truth = await decodeMask(await bytesOf(frame.maskSource));
    } catch (error) {
      throw new Error(`its mask: ${error.message}`);
    }
    if (truth.width !== decoded.width || truth.height !== decoded.height) {
      throw new Error(`its mask is ${truth.width}x${truth.height}, the scan ${decoded.width}x${decoded.height}`);
    }
    frame.truth = truth.mask;
  }
  return decoded;
}

async function show(index) {
  if (!state.frames.length) return;
  state.index = Math.min(Math.max(index, 0), state.frames.length - 1);
  const frame = state.frames[state.index];
  $("frame").value = state.index;
  setStatus("busy");
  try {
    const decoded = await prepare(frame);
    frame.error = null;
    const fulls = fullsOf(frame.result, decoded.width, decoded.height);
    const full = fulls ? fulls[0] : state.model.fullSize(frame.result, decoded.width, decoded.height);
    state.current = { name: frame.name, ...decoded, full, fulls, result: frame.result, truth: frame.truth };
    redraw();
    if (state.messageFrame !== null) showMessage("");
  } catch (error) {
    frame.error = error.message;
    state.current = null;
    showMessage(`${frame.name}: ${error.message}`, frame.name);
    drawPlaceholder(`${frame.name} could not be shown`);
    updateStats();
  }
  setStatus("ready");
}

function redraw() {
  const c = state.current;
  if (!c) return;
  if (c.fulls) {
    c.masks = state.model.masksOf(c.fulls, c.width, c.height, state.settings, c.result.presences);
    c.mask = c.masks[0];
  } else {
    c.mask = state.model.maskOf(c.full, c.width, c.height, state.settings, c.result.presence);
    c.masks = [c.mask];
  }
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

function drawPlaceholder(text) {
  const canvas = view.canvas;
  view.fillStyle = "#222";
  view.fillRect(0, 0, canvas.width, canvas.height);
  view.fillStyle = "#eee";
  view.font = "16px sans-serif";
  view.fillText(text, 16, 32);
}

/** Dropped masks are scored for a model of one structure only (see the top of this file). */
function scored() {
  return state.model.structures.length === 1;
}

/** Per-frame Dice and the competition score (mean Dice, empty/empty = 1) over labelled frames. */
async function scoreAll() {
  const labelled = scored() ? state.frames.filter((f) => f.maskSource) : [];
  for (const frame of labelled) {
    try {
      const decoded = await prepare(frame);
      const full = state.model.fullSize(frame.result, decoded.width, decoded.height);
      frame.dice = dice(state.model.maskOf(full, frame.width, frame.height, state.settings, frame.result.presence), frame.truth);
    } catch (error) {
      frame.error = error.message;
    }
  }
  updateStats();
}

let scoreTimer = null;
function scoreSoon() {
  clearTimeout(scoreTimer);
  scoreTimer = setTimeout(scoreAll, 250);
}

function competitionScore() {
  const scored = state.frames.filter((f) => f.dice !== null && f.dice !== undefined);
  if (!scored.length) return null;
  return { score: scored.reduce((t, f) => t + f.dice, 0) / scored.length, frames: scored.length };
}

function updateStats() {
  const frame = state.frames[state.index];
  const where = state.live
    ? ["source", state.live.name]
    : state.frames.length ? ["frame", `${state.index + 1} / ${state.frames.length}: ${frame?.name}`] : null;
  renderStats($("stats"), where, state.current, competitionScore(), state.fps, state.model?.structures);
}

// --- live sources --------------------------------------------------------------------------

async function processLive({ width, height, rgba, name }) {
  const gray = rgbaToGray(rgba, width * height);
  const result = await infer(gray, width, height);
  const fulls = fullsOf(result, width, height);
  const full = fulls ? fulls[0] : state.model.fullSize(result, width, height);
  state.current = { name, width, height, gray, full, fulls, result, truth: null };
  redraw();
  if (state.records.size < 20000) state.records.set(name, { width, height, rle: rleEncode(state.current.mask, width, height) });
}

function liveSource() {
  stopLive();
  state.frames = [];
  state.records = new Map();
  state.live = new LiveSource($("video"), processLive, (fps) => { state.fps = fps; });
  return state.live;
}

async function openVideo(file) {
  showMessage("");
  try {
    await liveSource().openFile(file);
  } catch (error) {
    showMessage(`${file.name}: cannot play this video (${error.message || error})`);
  }
}

async function openCamera() {
  showMessage("");
  try {
    await liveSource().openCamera($("camera-list").value || undefined);
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    $("camera-list").replaceChildren(...cameras.map((d, i) => new Option(d.label || `camera ${i + 1}`, d.deviceId)));
  } catch (error) {
    showMessage(`camera: ${error.message || error} (allow the camera, or plug in a capture device)`);
  }
}

function stopLive() {
  state.live?.stop();
  state.live = null;
  state.fps = null;
}

// --- stepping and playing -------------------------------------------------------------------

async function step(by) {
  if (state.live) return state.live.step(by);
  if (state.frames.length) await show((state.index + by + state.frames.length) % state.frames.length);
}

async function togglePlay() {
  if (state.live) {
    $("play").textContent = state.live.toggle() ? "Pause" : "Play";
    return;
  }
  state.playing = !state.playing;
  $("play").textContent = state.playing ? "Pause" : "Play";
  const stamps = [];
  while (state.playing && state.frames.length > 1) {
    await step(1);
    const now = performance.now();
    stamps.push(now);
    while (stamps[0] < now - 1000) stamps.shift();
    state.fps = stamps.length;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  state.fps = null;
  updateStats();
}

// --- downloads ------------------------------------------------------------------------------

/** name -> {width, height, mask} of everything viewed, masks at the current settings. */
function viewedMasks() {
  const out = new Map();
  for (const [name, r] of state.records) out.set(name, { width: r.width, height: r.height, mask: rleDecode(r.rle, r.width, r.height) });
  for (const frame of state.frames) {
    if (!frame.result) continue;
    const full = state.model.fullSize(frame.result, frame.width, frame.height);
    out.set(frame.name, { width: frame.width, height: frame.height, mask: state.model.maskOf(full, frame.width, frame.height, state.settings, frame.result.presence) });
  }
  return out;
}

async function download(kind) {
  if (kind === "mask") {
    if (!state.current) return showMessage("no mask to download yet");
    return downloadMask(state.current);
  }
  const masks = viewedMasks();
  if (!masks.size) return showMessage("no masks to download yet");
  return kind === "zip" ? downloadZip(masks) : downloadCsv(masks);
}

// --- wiring ---------------------------------------------------------------------------------

function wire() {
  $("files").addEventListener("change", (e) => openFiles(e.target.files));
  $("folder").addEventListener("change", (e) => openFiles(e.target.files));
  $("camera").addEventListener("click", openCamera);
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("play").addEventListener("click", togglePlay);
  $("frame").addEventListener("input", (e) => show(Number(e.target.value)));
  $("threshold").addEventListener("input", (e) => {
    state.settings = { ...state.settings, threshold: Number(e.target.value) };
    updateLabels();
    redraw();
    scoreSoon();
  });
  $("opacity").addEventListener("input", (e) => {
    state.look.opacity = Number(e.target.value);
    updateLabels();
    redraw();
  });
  for (const radio of document.querySelectorAll("input[name=style]")) {
    radio.addEventListener("change", (e) => {
      state.look.style = e.target.value;
      redraw();
    });
  }
  for (const kind of ["mask", "zip", "csv"]) $(`download-${kind}`).addEventListener("click", () => download(kind));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
    if (e.key === "ArrowRight") step(1);
    if (e.key === "ArrowLeft") step(-1);
    if (e.key === " ") { e.preventDefault(); togglePlay(); }
  });
  document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", async (e) => {
    e.preventDefault();
    document.body.classList.remove("dragging");
    openFiles(await droppedFiles(e.dataTransfer));
  });
}

window.viewer = {
  ready: null,
  /** What the page shows, for tests: the mask as its run-length code. */
  state() {
    const c = state.current;
    return {
      status: document.body.dataset.status,
      drawn: state.drawn,
      index: state.index,
      count: state.frames.length,
      name: c?.name ?? null,
      width: c?.width ?? null,
      height: c?.height ?? null,
      rle: c?.mask ? rleEncode(c.mask, c.width, c.height) : null,
      area: c?.mask ? area(c.mask) : null,
      structures: state.model?.structures ?? null,
      rles: c?.masks ? c.masks.map((m) => rleEncode(m, c.width, c.height)) : null,
      presences: c?.result.presences ?? null,
      presence: c?.result.presence ?? null,
      dice: c?.truth && c.mask && scored() ? dice(c.mask, c.truth) : null,
      score: competitionScore(),
      fps: state.fps,
      message: $("message").hidden ? "" : $("message").textContent,
      provider: state.model?.provider,
      threads: state.model?.threads,
    };
  },
  show,
  openStream: (stream, name) => liveSource().openStream(stream, name),
  /** Frame to drawn overlay, back to back, on the live path: for benchmarks/viewer_speed.py.
   * Each step grabs a frame from `sources` (canvases or bitmaps, cycled) as a video frame is
   * grabbed, then converts, segments, post-processes and draws it. */
  async benchmark(sources, count) {
    const { width, height } = sources[0];
    const grab = new OffscreenCanvas(width, height).getContext("2d", { willReadFrequently: true });
    const times = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      grab.drawImage(sources[i % sources.length], 0, 0);
      const rgba = grab.getImageData(0, 0, width, height).data;
      await processLive({ width, height, rgba, name: `bench_${i}` });
      times.push(performance.now() - started);
    }
    return times;
  },
};

wire();
window.viewer.ready = start().catch((error) => {
  setStatus("error");
  showMessage(`the model could not be loaded: ${error.message || error}`);
  throw error;
});
