// The words beside the frame: what model runs where, and the numbers of the frame shown.

import { area, dice } from "./masks.js";

function modelOptions(kwargs) {
  const parts = Object.entries(kwargs)
    .filter(([, v]) => v !== false && v !== null)
    .map(([k, v]) => (v === true ? k : `${k} ${v}`));
  return parts.length ? ` (${parts.join(", ")})` : "";
}

function describe(p) {
  const parts = p.crf_weight > 0 ? [`CRF weight ${p.crf_weight}`] : [];
  parts.push(`threshold ${p.threshold}`, `min area ${p.min_area}`);
  if (p.max_area) parts.push(`max area ${p.max_area}`);
  if (p.keep_largest) parts.push("largest component");
  if (p.convex_hull) parts.push("convex hulls");
  if (p.closing_radius) parts.push(`closing ${p.closing_radius}`);
  if (p.fill_holes) parts.push("holes filled");
  if (p.presence_threshold) parts.push(`presence ≥ ${p.presence_threshold}`);
  return parts.join(", ") + streamNote(p);
}

// The page segments every frame of a video or camera on its own, as a still: the stream
// smoothing that `nerveseg live` applies (nerveseg.temporal) is not repeated here, so say so
// when the post-processing has some.
function streamNote(p) {
  const stream = [];
  if (p.ema_alpha < 1) stream.push(`average ${p.ema_alpha}`);
  if (p.presence_on > 0) stream.push(`presence on/off ${p.presence_on}/${p.presence_off}`);
  if (p.pixel_off > 0) stream.push(`pixel off ${p.pixel_off}`);
  if (!stream.length) return "";
  return `; stream smoothing (${stream.join(", ")}) not applied here: every frame on its own (nerveseg live applies it)`;
}

/** "segnet (width 0.25) at 96x128, WebAssembly, 1 thread(s); post-processing: ..."; with
 * several structures, each one's post-processing after its name. */
export function modelSummary(model) {
  const { info, provider, threads, note, structures } = model;
  const runtime = provider === "webgpu" ? "WebGPU" : `WebAssembly, ${threads} thread(s)`;
  const postprocess =
    structures.length > 1
      ? structures.map((name, k) => `${name}: ${describe(info.structure_postprocess[k])}`).join("; ")
      : describe(info.postprocess);
  return (
    `${info.model_name}${modelOptions(info.model_kwargs)} at ${info.image_size.join("x")}, ` +
    `${runtime}; post-processing: ${postprocess}${note ? `. ${note}` : ""}`
  );
}

function peak(values) {
  let top = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > top) top = values[i];
  return top;
}

/** Fill the <dl>: where we are, the frame's presence, area (per structure when there are
 * several), network time, Dice, score, rate. */
export function renderStats(list, where, current, score, fps, structures = null) {
  const rows = where ? [where] : [];
  if (current) {
    const { width, height, result, mask, masks, truth } = current;
    rows.push(["size", `${width} x ${height}`]);
    if (structures && structures.length > 1) {
      structures.forEach((name, k) => {
        const score = result.presences
          ? `presence ${result.presences[k].toFixed(3)}`
          : `peak probability ${peak(result.channels[k]).toFixed(3)}`;
        rows.push([name, `${area(masks[k])} px, ${score}`]);
      });
    } else {
      rows.push(
        result.presence === null
          ? ["presence", `no presence head (peak probability ${peak(result.probabilities).toFixed(3)})`]
          : ["presence", result.presence.toFixed(3)]
      );
      rows.push(["nerve area", `${area(mask)} px`]);
    }
    rows.push(["network", `${result.ms.toFixed(1)} ms`]);
    if (truth && !(structures && structures.length > 1)) rows.push(["Dice", dice(mask, truth).toFixed(3)]);
  }
  if (score) rows.push(["score", `${score.score.toFixed(3)} over ${score.frames} labelled frame(s)`]);
  if (fps !== null) rows.push(["frames/s", String(fps)]);
  list.replaceChildren(
    ...rows.flatMap(([key, value]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = key;
      dd.textContent = value;
      return [dt, dd];
    })
  );
}
