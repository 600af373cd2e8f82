// nerveseg.postprocess.apply_postprocess, step for step, on one frame's full-size probabilities:
// presence gate -> threshold -> keep the largest component -> convex hulls -> closing -> fill
// holes -> area gates. Connectivity and borders follow scipy.ndimage's defaults as the Python
// code uses them (4-connected components, the shape steps on the mask's bounding box padded
// with zeros).

/** @returns {Uint8Array} the (height * width) mask, row-major, 1 = nerve. */
export function applyPostprocess(prob, width, height, params, presence = null) {
  const mask = new Uint8Array(width * height);
  if (params.presence_threshold > 0) {
    if (presence === null || presence === undefined) {
      throw new Error(
        "post-processing has a presence threshold but the model gives no presence probability; " +
          "refit post-processing for this model (nerveseg fit-postprocess)"
      );
    }
    if (!(presence >= Math.fround(params.presence_threshold))) return mask;
  }
  const threshold = Math.fround(params.threshold); // numpy compares float32 with float32
  let any = false;
  for (let i = 0; i < mask.length; i++) {
    if (prob[i] > threshold) {
      mask[i] = 1;
      any = true;
    }
  }
  if (!any) return mask;
  if (params.keep_largest) keepLargest(mask, width, height);
  if (params.convex_hull) convexHulls(mask, width, height);
  if (params.closing_radius > 0 || params.fill_holes) shapeOnBox(mask, width, height, params);
  let area = 0;
  for (let i = 0; i < mask.length; i++) area += mask[i];
  const keep = area >= params.min_area && !(params.max_area > 0 && area > params.max_area);
  if (!keep) mask.fill(0);
  return mask;
}

/** 4-connected components labelled in raster order (as scipy.ndimage.label numbers them). */
export function labelComponents(mask, width, height) {
  const labels = new Int32Array(mask.length);
  const sizes = [0];
  const stack = new Int32Array(mask.length);
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    const label = sizes.length;
    let top = 0, size = 0;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const p = stack[--top];
      size++;
      const x = p % width;
      const next = [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, p - width, p + width];
      for (const q of next) {
        if (q >= 0 && q < mask.length && mask[q] && !labels[q]) {
          labels[q] = label;
          stack[top++] = q;
        }
      }
    }
    sizes.push(size);
  }
  return { labels, sizes };
}

function keepLargest(mask, width, height) {
  const { labels, sizes } = labelComponents(mask, width, height);
  if (sizes.length <= 2) return;
  let best = 1;
  for (let l = 2; l < sizes.length; l++) if (sizes[l] > sizes[best]) best = l; // first on ties
  for (let i = 0; i < mask.length; i++) mask[i] = labels[i] === best ? 1 : 0;
}

// postprocess.convex_hulls: each component becomes the pixels whose centres lie in the hull of
// its pixel centres, edges included. Integer coordinates make the inside test exact.
function convexHulls(mask, width, height) {
  const { labels, sizes } = labelComponents(mask, width, height);
  const spans = sizes.map(() => []); // per component: [row, first column, last column] per row
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const l = labels[y * width + x];
      if (!l) continue;
      const rows = spans[l], span = rows[rows.length - 1];
      if (span && span[0] === y) span[2] = x;
      else rows.push([y, x, x]);
    }
  }
  for (const rows of spans.slice(1)) {
    const top = rows[0][0], bottom = rows[rows.length - 1][0];
    const left = Math.min(...rows.map((r) => r[1])), right = Math.max(...rows.map((r) => r[2]));
    if (top === bottom || left === right) continue; // one row or column: its own hull
    const hull = monotoneChain(rows.flatMap(([y, a, b]) => [[y, a], [y, b]]));
    for (let y = top; y <= bottom; y++) {
      for (let x = left; x <= right; x++) if (insideConvex(hull, y, x)) mask[y * width + x] = 1;
    }
  }
}

// Andrew's monotone chain: the hull's corners, counter-clockwise in (row, column) coordinates.
function monotoneChain(points) {
  const sorted = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list) => {
    const chain = [];
    for (const p of list) {
      while (chain.length >= 2 && cross(chain[chain.length - 2], chain[chain.length - 1], p) <= 0) chain.pop();
      chain.push(p);
    }
    chain.pop();
    return chain;
  };
  return half(sorted).concat(half(sorted.slice().reverse()));
}

function insideConvex(hull, y, x) {
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i], b = hull[(i + 1) % hull.length];
    if ((b[0] - a[0]) * (x - a[1]) - (b[1] - a[1]) * (y - a[0]) < 0) return false;
  }
  return true;
}

function disk(radius) {
  const offsets = [];
  for (let y = -radius; y <= radius; y++) {
    for (let x = -radius; x <= radius; x++) if (x * x + y * y <= radius * radius) offsets.push([y, x]);
  }
  return offsets;
}

// The closing and hole filling of postprocess.shape_mask: on the bounding box, padded.
function shapeOnBox(mask, width, height, params) {
  const pad = params.closing_radius + 1;
  let r0 = height, r1 = -1, c0 = width, c1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x]) {
        if (y < r0) r0 = y;
        if (y > r1) r1 = y;
        if (x < c0) c0 = x;
        if (x > c1) c1 = x;
      }
    }
  }
  const by0 = Math.max(r0 - pad, 0), by1 = Math.min(r1 + pad + 1, height);
  const bx0 = Math.max(c0 - pad, 0), bx1 = Math.min(c1 + pad + 1, width);
  const ch = by1 - by0 + 2 * pad, cw = bx1 - bx0 + 2 * pad;
  let crop = new Uint8Array(ch * cw);
  for (let y = by0; y < by1; y++) {
    for (let x = bx0; x < bx1; x++) crop[(y - by0 + pad) * cw + (x - bx0 + pad)] = mask[y * width + x];
  }
  if (params.closing_radius > 0) {
    const offsets = disk(params.closing_radius);
    crop = erode(dilate(crop, cw, ch, offsets), cw, ch, offsets);
  }
  if (params.fill_holes) crop = fillHoles(crop, cw, ch);
  for (let y = by0; y < by1; y++) {
    for (let x = bx0; x < bx1; x++) mask[y * width + x] = crop[(y - by0 + pad) * cw + (x - bx0 + pad)];
  }
}

function dilate(src, w, h, offsets) {
  const out = new Uint8Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!src[y * w + x]) continue;
      for (const [dy, dx] of offsets) {
        const yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w) out[yy * w + xx] = 1;
      }
    }
  }
  return out;
}

function erode(src, w, h, offsets) {
  const out = new Uint8Array(src.length); // outside the crop counts as background
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let all = 1;
      for (const [dy, dx] of offsets) {
        const yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w || !src[yy * w + xx]) {
          all = 0;
          break;
        }
      }
      out[y * w + x] = all;
    }
  }
  return out;
}

// scipy.ndimage.binary_fill_holes: background not 4-connected to the border becomes mask.
function fillHoles(src, w, h) {
  const outside = new Uint8Array(src.length);
  const stack = [];
  const push = (p) => {
    if (!src[p] && !outside[p]) {
      outside[p] = 1;
      stack.push(p);
    }
  };
  for (let x = 0; x < w; x++) {
    push(x);
    push((h - 1) * w + x);
  }
  for (let y = 0; y < h; y++) {
    push(y * w);
    push(y * w + w - 1);
  }
  while (stack.length) {
    const p = stack.pop();
    const x = p % w;
    if (x > 0) push(p - 1);
    if (x < w - 1) push(p + 1);
    if (p >= w) push(p - w);
    if (p + w < src.length) push(p + w);
  }
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = outside[i] ? 0 : 1;
  return out;
}
