// nerveseg.crf.refine, step for step: the dense CRF's mean-field updates on one frame's
// probabilities at the network's size, before they are resized back. The same 7x7 window of
// neighbours ceil(2 sigma / 3) pixels apart, the same kernels normalised over the neighbours
// inside the frame, the same update of the nerve label's log-odds:
//   logit Q_i = logit p_i + sum_j K_ij (2 Q_j - 1)
// The kernel's values are rounded to float32 as torch holds them; the sums and exp run in
// float64 here, so the page agrees with Python to ~1e-5, not bit for bit.

const EPSILON = 1e-6;

/** The (dy, dx) neighbours of crf.window_offsets, row by row, centre left out. */
export function windowOffsets(spatialSigma) {
  const step = Math.max(1, Math.ceil((2 * spatialSigma) / 3));
  const offsets = [];
  for (let dy = -3 * step; dy <= 3 * step; dy += step) {
    for (let dx = -3 * step; dx <= 3 * step; dx += step) if (dy || dx) offsets.push([dy, dx]);
  }
  return offsets;
}

/**
 * Refined (height * width) probabilities, row-major; `prob` itself when `params.crf_weight` is 0.
 * @param {Float32Array} prob the network's probabilities at its input size
 * @param {Uint8Array} gray the frame the network saw, same size
 * @param {object} params the post-processing (its crf_* fields)
 */
export function refine(prob, gray, width, height, params) {
  const weight = params.crf_weight || 0;
  if (weight <= 0) return prob;
  const offsets = windowOffsets(params.crf_spatial_sigma);
  const kernel = kernelOf(gray, width, height, offsets, params);
  const count = width * height;
  const unary = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const p = Math.min(Math.max(prob[i], EPSILON), 1 - EPSILON);
    unary[i] = Math.log(p / (1 - p));
  }
  let logits = unary;
  const messages = new Float32Array(count);
  for (let iteration = 0; iteration < params.crf_iterations; iteration++) {
    for (let i = 0; i < count; i++) messages[i] = 2 / (1 + Math.exp(-logits[i])) - 1;
    const next = new Float32Array(count);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        let sum = 0;
        for (let k = 0; k < offsets.length; k++) {
          const yy = y + offsets[k][0], xx = x + offsets[k][1];
          if (yy >= 0 && yy < height && xx >= 0 && xx < width) sum += kernel[k * count + i] * messages[yy * width + xx];
        }
        next[i] = unary[i] + sum;
      }
    }
    logits = next;
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = 1 / (1 + Math.exp(-logits[i]));
  return out;
}

// (offsets * count) kernel values: crf._kernel, both kernels normalised over the neighbours
// inside the frame, mixed by the smoothness and scaled by the weight.
function kernelOf(gray, width, height, offsets, params) {
  const count = width * height;
  const sigma2 = 2 * params.crf_spatial_sigma ** 2;
  const intensity2 = 2 * params.crf_intensity_sigma ** 2;
  const smoothness = params.crf_smoothness || 0;
  const kernel = new Float32Array(offsets.length * count);
  const spatial = new Float64Array(offsets.length);
  const bilateral = new Float64Array(offsets.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      let spatialSum = 0, bilateralSum = 0;
      for (let k = 0; k < offsets.length; k++) {
        const [dy, dx] = offsets[k];
        const yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= height || xx < 0 || xx >= width) {
          spatial[k] = bilateral[k] = 0;
          continue;
        }
        const contrast = gray[yy * width + xx] - gray[i];
        // float32 like torch: a contrast far beyond the intensity width underflows to 0 there too.
        spatial[k] = Math.fround(Math.exp(-(dy * dy + dx * dx) / sigma2));
        bilateral[k] = Math.fround(spatial[k] * Math.fround(Math.exp(-(contrast * contrast) / intensity2)));
        spatialSum += spatial[k];
        bilateralSum += bilateral[k];
      }
      const b = bilateralSum > 0 ? (params.crf_weight * (1 - smoothness)) / bilateralSum : 0;
      const s = (params.crf_weight * smoothness) / spatialSum;
      for (let k = 0; k < offsets.length; k++) kernel[k * count + i] = bilateral[k] * b + spatial[k] * s;
    }
  }
  return kernel;
}
