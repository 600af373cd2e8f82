// nerveseg.crf.refine, step for step: the dense CRF's mean-field updates on one frame's
// probabilities at the network's size, before they are resized back. The same 7x7 window of
// neighbours ceil(2 sigma / 3) pixels apart, the same kernels normalised over the neighbours
// inside the frame, the same update of the nerve label's log-odds:
//   logit Q_i = logit p_i + sum_j K_ij (2 Q_j - 1)
// Like the torch code, one neighbour offset at a time over the whole frame (memory in order),
// kernel values and the update's sums in float32; the normalising sums run in float64 here, so
// the page agrees with Python to ~1e-6, not bit for bit.

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
  if (!(params.crf_weight > 0)) return prob;
  const offsets = windowOffsets(params.crf_spatial_sigma).map(([dy, dx]) => span(dy, dx, width, height));
  const kernel = kernelOf(gray, width, height, offsets, params);
  const count = width * height;
  const unary = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const p = Math.min(Math.max(prob[i], EPSILON), 1 - EPSILON);
    unary[i] = Math.log(p / (1 - p));
  }
  const logits = Float32Array.from(unary);
  const messages = new Float32Array(count);
  for (let iteration = 0; iteration < params.crf_iterations; iteration++) {
    for (let i = 0; i < count; i++) messages[i] = 2 / (1 + Math.exp(-logits[i])) - 1;
    logits.set(unary);
    offsets.forEach(({ shift, y0, y1, x0, x1 }, k) => {
      const base = k * count;
      for (let y = y0; y < y1; y++) {
        for (let i = y * width + x0, end = y * width + x1; i < end; i++) {
          logits[i] = Math.fround(logits[i] + Math.fround(kernel[base + i] * messages[i + shift]));
        }
      }
    });
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = 1 / (1 + Math.exp(-logits[i]));
  return out;
}

// Offset (dy, dx) as an index shift and the rows and columns whose neighbour is in the frame.
function span(dy, dx, width, height) {
  return {
    dy,
    dx,
    shift: dy * width + dx,
    y0: Math.max(0, -dy),
    y1: Math.min(height, height - dy),
    x0: Math.max(0, -dx),
    x1: Math.min(width, width - dx),
  };
}

// (offsets * count) kernel values: crf._kernel, both kernels normalised over the neighbours
// inside the frame, mixed by the smoothness and scaled by the weight. Grey levels are whole
// numbers, so the intensity term is a table of the 511 possible differences.
function kernelOf(gray, width, height, offsets, params) {
  const count = width * height;
  const sigma2 = 2 * params.crf_spatial_sigma ** 2;
  const intensity2 = 2 * params.crf_intensity_sigma ** 2;
  const smoothness = params.crf_smoothness || 0;
  const contrast = new Float32Array(511);
  for (let d = -255; d <= 255; d++) contrast[d + 255] = Math.fround(Math.exp(-(d * d) / intensity2));
  const kernel = new Float32Array(offsets.length * count);
  const bilateralSum = new Float64Array(count), spatialSum = new Float64Array(count);
  const spatial = offsets.map(({ dy, dx }) => Math.fround(Math.exp(-(dy * dy + dx * dx) / sigma2)));
  offsets.forEach(({ shift, y0, y1, x0, x1 }, k) => {
    const base = k * count, near = spatial[k];
    for (let y = y0; y < y1; y++) {
      for (let i = y * width + x0, end = y * width + x1; i < end; i++) {
        // float32 like torch: a contrast far beyond the intensity width underflows to 0 there too.
        const value = Math.fround(near * contrast[gray[i + shift] - gray[i] + 255]);
        kernel[base + i] = value;
        bilateralSum[i] += value;
        spatialSum[i] += near;
      }
    }
  });
  const scaleBilateral = new Float64Array(count), scaleSpatial = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const b = bilateralSum[i];
    scaleBilateral[i] = b > 0 ? (params.crf_weight * (1 - smoothness)) / b : 0;
    scaleSpatial[i] = (params.crf_weight * smoothness) / spatialSum[i];
  }
  offsets.forEach(({ y0, y1, x0, x1 }, k) => {
    const base = k * count, near = spatial[k];
    for (let y = y0; y < y1; y++) {
      for (let i = y * width + x0, end = y * width + x1; i < end; i++) {
        kernel[base + i] = kernel[base + i] * scaleBilateral[i] + near * scaleSpatial[i];
      }
    }
  });
  return kernel;
}
