// `window.viewer`: what the page shows, for the browser tests (tests/viewer) and
// benchmarks/viewer_speed.py, and the few calls they drive the page with. Its own module
// because it is an interface to Python code, not part of the page a person uses: keys are
// added here as the page grows and never renamed, or the tests and the benchmark break.

import { area, dice, rleEncode } from "./masks.js";
import { $, state } from "./page.js";
import { competitionScore, scored } from "./render.js";

/** `show(index)`, `openStream(stream, name)` and `processLive(frame)` are main.js's. */
export function exposeViewer({ show, openStream, processLive }) {
  window.viewer = {
    ready: null,
    /** What the page shows, for tests: the mask as its run-length code; with several
     * structures, each one's code (`rles`), area and threshold in channel order. */
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
        areas: c?.masks ? c.masks.map(area) : null,
        thresholds: state.settings ? state.settings.map((p) => p.threshold) : null,
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
    openStream,
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
  return window.viewer;
}
