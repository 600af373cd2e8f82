// Drawing a frame with its mask: filled (blended) or outlined, the true mask's outline on top.

const NERVE = [40, 230, 120];
const TRUTH = [255, 60, 200];

function isEdge(mask, i, x, y, width, height) {
  return (
    x === 0 || y === 0 || x === width - 1 || y === height - 1 ||
    !mask[i - 1] || !mask[i + 1] || !mask[i - width] || !mask[i + width]
  );
}

/**
 * @param {CanvasRenderingContext2D} context the visible canvas (resized to the frame)
 * @param {{width, height, gray}} frame
 * @param {Uint8Array|null} mask predicted mask, @param {Uint8Array|null} truth
 * @param {{style: "filled"|"outline", opacity: number}} look
 */
export function drawOverlay(context, frame, mask, truth, look) {
  const { width, height, gray } = frame;
  if (context.canvas.width !== width || context.canvas.height !== height) {
    context.canvas.width = width;
    context.canvas.height = height;
  }
  const image = context.createImageData(width, height);
  const out = image.data;
  const a = look.opacity, filled = look.style === "filled";
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const g = gray[i], j = 4 * i;
      let r = g, gg = g, b = g;
      if (mask && mask[i] && (filled || isEdge(mask, i, x, y, width, height))) {
        const w = filled ? a : Math.max(a, 0.85);
        r = g + (NERVE[0] - g) * w;
        gg = g + (NERVE[1] - g) * w;
        b = g + (NERVE[2] - g) * w;
      }
      if (truth && truth[i] && isEdge(truth, i, x, y, width, height)) [r, gg, b] = TRUTH;
      out[j] = r;
      out[j + 1] = gg;
      out[j + 2] = b;
      out[j + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
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
