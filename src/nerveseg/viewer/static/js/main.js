// The page: frames from files, a folder, frames.json, a video or a camera; the model's masks
// drawn over each; live thresholds and opacity; Dice against dropped masks. This module decides
// which frame is shown and wires the controls; the pieces with a seam of their own live beside
// it: page.js (the shared state), render.js (a segmented frame to the canvas and the stats),
// thresholds.js (a slider per structure), downloads.js (the buttons and predict's file
// formats), api.js (`window.viewer` for the tests and the benchmark).
//
// A model of several structures (nerve, vessel ...) draws each structure in its colour with
// its own post-processing and its own threshold slider; moving one redraws that structure's
// mask only, and the downloads hold every structure as predict writes them. A dropped mask is
// outlined but not scored: which value or palette colour means which structure is the run's
// data.structures, which the page does not read (nerveseg evaluate scores each structure).

import { exposeViewer } from "./api.js";
import { wireDownloads } from "./downloads.js";
import { bytesOf, decodeImage, decodeMask, droppedFiles, sortFiles } from "./frames.js";
import { rgbaToGray } from "./imaging.js";
import { LiveSource } from "./live.js";
import { dice, rleEncode } from "./masks.js";
import { loadModel } from "./model.js";
import { $, infer, masksAt, setStatus, showMessage, state } from "./page.js";
import { modelSummary } from "./panel.js";
import { drawFrame, drawPlaceholder, redraw, scored, updateStats } from "./render.js";
import { setupThresholds } from "./thresholds.js";

const query = new URLSearchParams(location.search);

// --- the model and the page's settings ------------------------------------------------------

async function start() {
  setStatus("loading");
  const threads = Number(query.get("threads")) || undefined;
  state.model = await loadModel(new URL("./", location.href), { threads, provider: query.get("provider") });
  const { info, structures, postprocess } = state.model;
  // One structure: the model's post-processing as it always was; several: each structure's.
  state.settings = structures.length > 1 ? postprocess.map((p) => ({ ...p })) : [{ ...info.postprocess }];
  setupThresholds(thresholdMoved);
  $("model-info").textContent = modelSummary(state.model);
  updateLabels();
  setStatus("ready");
  const listed = await fetch("frames.json").then((r) => (r.ok ? r.json() : { frames: [] })).catch(() => ({ frames: [] }));
  if (listed.frames.length) {
    openFrames(listed.frames.map((f) => ({ name: f.name, source: f.image, maskSource: f.mask || null })));
  }
}

/** Structure k's threshold moved: its mask alone is post-processed again. */
function thresholdMoved(k) {
  redraw(k);
  if (k === 0) scoreSoon();
}

function updateLabels() {
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
    drawFrame({ name: frame.name, ...decoded }, frame.result, frame.truth);
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

/** Per-frame Dice and the competition score (mean Dice, empty/empty = 1) over labelled frames. */
async function scoreAll() {
  const labelled = scored() ? state.frames.filter((f) => f.maskSource) : [];
  for (const frame of labelled) {
    try {
      await prepare(frame);
      frame.dice = dice(masksAt(frame.result, frame.width, frame.height)[0], frame.truth);
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

// --- live sources --------------------------------------------------------------------------

async function processLive({ width, height, rgba, name }) {
  const gray = rgbaToGray(rgba, width * height);
  const result = await infer(gray, width, height);
  drawFrame({ name, width, height, gray }, result);
  if (state.records.size < 20000) {
    state.records.set(name, { width, height, rles: state.current.masks.map((m) => rleEncode(m, width, height)) });
  }
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

// --- wiring ---------------------------------------------------------------------------------

function wire() {
  $("files").addEventListener("change", (e) => openFiles(e.target.files));
  $("folder").addEventListener("change", (e) => openFiles(e.target.files));
  $("camera").addEventListener("click", openCamera);
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("play").addEventListener("click", togglePlay);
  $("frame").addEventListener("input", (e) => show(Number(e.target.value)));
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
  wireDownloads();
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

exposeViewer({ show, openStream: (stream, name) => liveSource().openStream(stream, name), processLive });
wire();
window.viewer.ready = start().catch((error) => {
  setStatus("error");
  showMessage(`the model could not be loaded: ${error.message || error}`);
  throw error;
});
