// The network in the page: onnxruntime-web runs the exported ONNX file (sigmoid inside, the
// unpooling as a scatter) on WebAssembly, or on WebGPU when the browser has an adapter and
// the WebGPU build was vendored. `segment` repeats nerveseg predict's steps up to the
// probabilities at the network's size (the dense CRF included, when the model's
// post-processing asks for it); `maskOf` takes them to a full-size mask. A model of several
// structures gives a probability map per structure (`channels`, each refined by its own
// structure's CRF) and a presence per structure; `fullSizes` and `masksOf` take each with
// its own post-processing.

import { refine } from "./crf.js";
import { fitGray, normalise, probabilitiesAtFrame } from "./imaging.js";
import { applyPostprocess } from "./postprocess.js";

const VENDOR = new URL("../vendor/", import.meta.url).href;

async function webgpuRuntime(requested) {
  if (requested === "wasm" || !navigator.gpu) return null;
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) return null;
  // The WebGPU build is optional (make setup VIEWER_WEBGPU=1): without it, WASM.
  return import(`${VENDOR}ort.webgpu.min.mjs`).catch(() => null);
}

async function openSession(ort, bytes, provider, threads, info) {
  ort.env.wasm.wasmPaths = VENDOR;
  // Threads need cross-origin isolation (SharedArrayBuffer); without it the runtime uses one.
  ort.env.wasm.numThreads = crossOriginIsolated ? threads || 1 : 1;
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: provider === "webgpu" ? ["webgpu", "wasm"] : ["wasm"],
    graphOptimizationLevel: "all",
    // One frame at a time: a fixed batch lets the runtime plan its memory once (~5% faster).
    freeDimensionOverrides: { batch: 1 },
  });
  // A first run on zeros: the slow first call happens now, and a graph the provider cannot
  // run fails here, not on the user's first frame.
  const [height, width] = info.image_size;
  const zeros = new ort.Tensor("float32", new Float32Array(height * width), [1, 1, height, width]);
  await session.run({ image: zeros });
  return session;
}

/**
 * Load model.json and model.onnx from `base` (the page's folder).
 * @param {{threads?: number, provider?: string}} options threads: WASM threads (default 1,
 *   the fastest on a loaded 2-core machine in benchmarks/viewer_speed.py); provider: "wasm"
 *   to never try WebGPU.
 */
export async function loadModel(base, options = {}) {
  const response = await fetch(new URL("model.json", base));
  if (!response.ok) throw new Error(`model.json: ${response.status} ${response.statusText}`);
  const info = await response.json();
  const bytes = await fetch(new URL(info.model, base)).then((r) => {
    if (!r.ok) throw new Error(`${info.model}: ${r.status} ${r.statusText}`);
    return r.arrayBuffer();
  });
  let ort = await webgpuRuntime(options.provider);
  let provider = ort ? "webgpu" : "wasm";
  let session, note = "";
  if (ort) {
    try {
      session = await openSession(ort, new Uint8Array(bytes), provider, options.threads, info);
    } catch (error) {
      // onnxruntime-web 1.30's WebGPU MaxPool has no indices output, which SegNet's unpooling needs.
      note = `WebGPU cannot run this model (${String(error.message || error).split("\n")[0].slice(0, 160)})`;
      ort = null;
    }
  }
  if (!ort) {
    ort = await import(`${VENDOR}ort.wasm.min.mjs`);
    provider = "wasm";
    session = await openSession(ort, new Uint8Array(bytes), provider, options.threads, info);
  }
  const [height, width] = info.image_size;
  const resize = info.resize || "stretch"; // model.json files written before resize existed
  const hasPresence = session.outputNames.includes("presence");
  // Files from before structures carry none: one structure, the nerve, with the model's values.
  const structures = info.structures || ["nerve"];
  const structurePostprocess = info.structure_postprocess || [info.postprocess];
  const plane = height * width;

  /** (h, w) uint8 gray frame -> {probabilities (the first structure's, network size, CRF
   * applied), channels (one per structure), presence, presences, ms}. */
  async function segment(gray, frameWidth, frameHeight) {
    const started = performance.now();
    const small = fitGray(gray, frameWidth, frameHeight, width, height, resize);
    const input = new ort.Tensor("float32", normalise(small, info.mean, info.std), [1, 1, height, width]);
    const outputs = await session.run({ image: input });
    const all = new Float32Array(outputs.probabilities.data); // (1, H, W) or (1, S, H, W)
    const presences = hasPresence ? Array.from(outputs.presence.data) : null;
    for (const tensor of [input, ...Object.values(outputs)]) tensor.dispose?.();
    // The CRF does not depend on the threshold the slider moves: once per frame, here.
    const channels = structures.map((_, k) =>
      refine(all.subarray(k * plane, (k + 1) * plane), small, width, height, structurePostprocess[k])
    );
    return {
      probabilities: channels[0],
      channels,
      presence: presences ? presences[0] : null,
      presences,
      ms: performance.now() - started,
    };
  }

  /** Full-size probabilities of a `segment` result's first structure (letterbox box cut,
   * torch's bilinear resize). */
  function fullSize(result, frameWidth, frameHeight) {
    return probabilitiesAtFrame(result.probabilities, width, height, frameWidth, frameHeight, resize);
  }

  /** Full-size probabilities of every structure, in channel order. */
  function fullSizes(result, frameWidth, frameHeight) {
    return result.channels.map((channel) =>
      probabilitiesAtFrame(channel, width, height, frameWidth, frameHeight, resize)
    );
  }

  /** The post-processed (frameHeight * frameWidth) mask; `params` default the model's own. */
  function maskOf(full, frameWidth, frameHeight, params, presence) {
    return applyPostprocess(full, frameWidth, frameHeight, params || info.postprocess, presence);
  }

  /** Every structure's mask; `params` holds one post-processing per structure (the page's, with
   * each structure's slider threshold), default each structure's own. */
  function masksOf(fulls, frameWidth, frameHeight, params, presences) {
    return fulls.map((full, k) =>
      maskOf(full, frameWidth, frameHeight, (params || structurePostprocess)[k], presences ? presences[k] : null)
    );
  }

  return {
    info,
    provider,
    note,
    threads: ort.env.wasm.numThreads,
    hasPresence,
    structures,
    postprocess: structurePostprocess, // one per structure, in channel order
    colours: info.colours || [],
    segment,
    fullSize,
    fullSizes,
    maskOf,
    masksOf,
  };
}
