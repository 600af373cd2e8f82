// Drawing a frame with its mask: filled (blended) or outlined, the true mask's outline on top.
// A model of several structures draws each structure's mask in its own colour (model.json's
// `colours`), the first structure last so that it stays on top where structures overlap.

const NERVE = [40, 230, 120];
const TRUTH = [255, 60, 200];

function isEdge(mask, i, x, y, width, height) {
  return (
    x === 0 || y === 0 || x === width - 1 || y === height - 1 ||
    !mask[i - 1] || !mask[i + 1] || !mask[i - width] || !mask[i + width]
  );
}

const GRAY = new Uint32Array(256).map((_, g) => (0xff000000 | (g << 16) | (g << 8) | g) >>> 0);
let buffer = null; // one ImageData reused while the frame size stays (live sources)

function rgba(r, g, b) {
  return (0xff000000 | (b << 16) | (g << 8) | r) >>> 0; // little-endian RGBA in one word
}

/**
 * @param {CanvasRenderingContext2D} context the visible canvas (resized to the frame)
 * @param {{width, height, gray}} frame
 * @param {Uint8Array|Uint8Array[]|null} masks the predicted mask, or one per structure
 * @param {Uint8Array|null} truth
 * @param {{style: "filled"|"outline", opacity: number}} look
 * @param {number[][]} colours one [r, g, b] per structure when there are several
 */
export function drawOverlay(context, frame, masks, truth, look, colours = []) {
  const { width, height, gray } = frame;
  if (context.canvas.width !== width || context.canvas.height !== height) {
    context.canvas.width = width;
    context.canvas.height = height;
  }
  if (!buffer || buffer.width !== width || buffer.height !== height) buffer = context.createImageData(width, height);
  const out = new Uint32Array(buffer.data.buffer);
  for (let i = 0; i < out.length; i++) out[i] = GRAY[gray[i]];
  const filled = look.style === "filled";
  const w = filled ? look.opacity : Math.max(look.opacity, 0.85);
  const list = Array.isArray(masks) ? masks : [masks];
  for (let k = list.length - 1; k >= 0; k--) {
    const mask = list[k];
    const colour = list.length > 1 && colours[k] ? colours[k] : NERVE;
    for (let y = 0, i = 0; mask && y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        if (mask[i] && (filled || isEdge(mask, i, x, y, width, height))) {
          const g = gray[i];
          out[i] = rgba(g + (colour[0] - g) * w, g + (colour[1] - g) * w, g + (colour[2] - g) * w);
        }
      }
    }
  }
  for (let y = 0, i = 0; truth && y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (truth[i] && isEdge(truth, i, x, y, width, height)) out[i] = rgba(...TRUTH);
    }
  }
  context.putImageData(buffer, 0, 0);
}

/** A {0, 255} gray PNG of a mask, as nerveseg predict writes them. */
export async function maskPng(mask, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] ? 255 : 0;
    image.data.set([v, v, v, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  return new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer());
}
