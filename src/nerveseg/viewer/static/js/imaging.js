// Pixel work that must match nerveseg's Python side exactly, so that the page's masks are
// `nerveseg predict`'s masks: Pillow's bilinear resize of uint8 frames (fixed-point, filter
// widened when shrinking), Pillow's RGB -> L luminance, the float32 normalisation of
// `inference.predictor.normalise`, and torch's bilinear resize (align_corners=False) of the
// probabilities back to the frame's size; for a letterbox model (`resize: "letterbox"`), the
// box of `nerveseg.data.geometry`: the frame scaled into it, black padding, the box cut back out.

const PRECISION_BITS = 32 - 8 - 2; // Pillow's Resample.c, 8 bits per channel
const ONE = 1 << PRECISION_BITS;

function bilinearFilter(x) {
  x = Math.abs(x);
  return x < 1 ? 1 - x : 0;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis.
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // the bilinear filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bilinearFilter((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

function clip8(value) {
  if (value >= ONE * 256) return 255;
  if (value <= 0) return 0;
  return value >> PRECISION_BITS;
}

/** Pillow's `Image.resize((outW, outH), BILINEAR)` of a (h, w) uint8 frame: exact. */
export function resizeGray(src, width, height, outW, outH) {
  if (width === outW && height === outH) return src.slice();
  const h = coefficients(width, outW);
  const tmp = new Uint8Array(outW * height); // horizontal pass first, rounded to uint8
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = h.bounds[2 * xx], xmax = h.bounds[2 * xx + 1], base = xx * h.ksize;
      let ss = 1 << (PRECISION_BITS - 1);
      for (let x = 0; x < xmax; x++) ss += src[row + xmin + x] * h.weights[base + x];
      tmp[y * outW + xx] = clip8(ss);
    }
  }
  const v = coefficients(height, outH);
  const out = new Uint8Array(outW * outH);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = v.bounds[2 * yy], ymax = v.bounds[2 * yy + 1], base = yy * v.ksize;
    for (let xx = 0; xx < outW; xx++) {
      let ss = 1 << (PRECISION_BITS - 1);
      for (let y = 0; y < ymax; y++) ss += tmp[(ymin + y) * outW + xx] * v.weights[base + y];
      out[yy * outW + xx] = clip8(ss);
    }
  }
  return out;
}

/** RGBA pixels -> uint8 gray with Pillow's "L" conversion (equal channels stay exact). */
export function rgbaToGray(rgba, count) {
  const gray = new Uint8Array(count);
  for (let i = 0, j = 0; i < count; i++, j += 4) {
    gray[i] = (rgba[j] * 19595 + rgba[j + 1] * 38470 + rgba[j + 2] * 7471 + 0x8000) >>> 16;
  }
  return gray;
}

/** uint8 frame -> float32 network input: x / 255, then (x - mean) / std, in float32 steps. */
export function normalise(gray, mean, std) {
  const out = new Float32Array(gray.length);
  const m = Math.fround(mean), s = Math.fround(std);
  for (let i = 0; i < gray.length; i++) {
    out[i] = Math.fround(Math.fround(Math.fround(gray[i] / 255) - m) / s);
  }
  return out;
}

// torch's source index and weight for one output index (area_pixel_compute_source_index).
function linearIndices(inSize, outSize) {
  const scale = Math.fround(inSize / outSize);
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize);
  const w1 = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const real = Math.max(Math.fround(Math.fround(scale * Math.fround(o + 0.5)) - 0.5), 0);
    const index = Math.min(Math.floor(real), inSize - 1);
    i0[o] = index;
    i1[o] = index + (index < inSize - 1 ? 1 : 0);
    w1[o] = Math.min(Math.max(Math.fround(real - index), 0), 1);
  }
  return { i0, i1, w1 };
}

/** torch `F.interpolate(mode="bilinear", align_corners=False)` of (h, w) float32 maps. */
export function resizeProbabilities(src, width, height, outW, outH) {
  if (width === outW && height === outH) return src;
  const xs = linearIndices(width, outW), ys = linearIndices(height, outH);
  const out = new Float32Array(outW * outH);
  for (let oy = 0; oy < outH; oy++) {
    const r0 = ys.i0[oy] * width, r1 = ys.i1[oy] * width;
    const hy1 = ys.w1[oy], hy0 = Math.fround(1 - hy1);
    for (let ox = 0; ox < outW; ox++) {
      const c0 = xs.i0[ox], c1 = xs.i1[ox], wx1 = xs.w1[ox], wx0 = Math.fround(1 - wx1);
      const top = Math.fround(Math.fround(src[r0 + c0] * wx0) + Math.fround(src[r0 + c1] * wx1));
      const bottom = Math.fround(Math.fround(src[r1 + c0] * wx0) + Math.fround(src[r1 + c1] * wx1));
      out[oy * outW + ox] = Math.fround(top * hy0) + Math.fround(bottom * hy1);
    }
  }
  return out;
}

/**
 * The box a (frameHeight, frameWidth) frame fills when letterboxed into (height, width):
 * `nerveseg.data.geometry.letterbox_box`, in the same integers (rounded half up, centred).
 */
export function letterboxBox(frameWidth, frameHeight, width, height) {
  let boxHeight, boxWidth;
  if (frameHeight * width >= frameWidth * height) {
    boxHeight = height;
    boxWidth = Math.floor((2 * frameWidth * height + frameHeight) / (2 * frameHeight));
  } else {
    boxWidth = width;
    boxHeight = Math.floor((2 * frameHeight * width + frameWidth) / (2 * frameWidth));
  }
  boxHeight = Math.max(1, Math.min(height, boxHeight));
  boxWidth = Math.max(1, Math.min(width, boxWidth));
  return {
    top: Math.floor((height - boxHeight) / 2),
    left: Math.floor((width - boxWidth) / 2),
    height: boxHeight,
    width: boxWidth,
  };
}

/** A uint8 frame at the network's size: `nerveseg.data.geometry.fit_image` (stretch or letterbox). */
export function fitGray(src, frameWidth, frameHeight, width, height, resize) {
  if (resize !== "letterbox") return resizeGray(src, frameWidth, frameHeight, width, height);
  const box = letterboxBox(frameWidth, frameHeight, width, height);
  const inner = resizeGray(src, frameWidth, frameHeight, box.width, box.height);
  const out = new Uint8Array(width * height); // black padding
  for (let y = 0; y < box.height; y++) {
    out.set(inner.subarray(y * box.width, (y + 1) * box.width), (box.top + y) * width + box.left);
  }
  return out;
}

/**
 * Network-size probabilities back at the frame's size: the letterbox box cut out first
 * (`nerveseg.data.geometry.crop_to_frame`), then torch's bilinear resize.
 */
export function probabilitiesAtFrame(src, width, height, frameWidth, frameHeight, resize) {
  if (resize !== "letterbox") {
    return resizeProbabilities(src, width, height, frameWidth, frameHeight);
  }
  const box = letterboxBox(frameWidth, frameHeight, width, height);
  const inner = new Float32Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const start = (box.top + y) * width + box.left;
    inner.set(src.subarray(start, start + box.width), y * box.width);
  }
  return resizeProbabilities(inner, box.width, box.height, frameWidth, frameHeight);
}
