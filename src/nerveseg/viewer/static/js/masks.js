// Masks as the competition writes and scores them: nerveseg.data.rle's run-length code
// (column-major, 1-based `start length` pairs, "" for an empty mask) and nerveseg.metrics.dice
// with the empty/empty rule (1).

/** Run-length code of a row-major (height * width) mask, pixels numbered down the columns.
 * Only the mask's bounding box is walked (a nerve covers a few percent of a frame): this runs
 * on every live frame. */
export function rleEncode(mask, width, height) {
  let r0 = height, r1 = -1, c0 = width, c1 = -1;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (mask[i]) {
        if (x < c0) c0 = x;
        if (x > c1) c1 = x;
        if (y < r0) r0 = y;
        r1 = y;
      }
    }
  }
  const parts = [];
  let start = -1, last = -2;
  for (let x = c0; x <= c1; x++) {
    for (let y = r0; y <= r1; y++) {
      const n = x * height + y;
      if (start >= 0 && n !== last + 1) {
        parts.push(start + 1, last + 1 - start); // the run ended outside the box
        start = -1;
      }
      if (mask[y * width + x]) {
        if (start < 0) start = n;
        last = n;
      } else if (start >= 0) {
        parts.push(start + 1, n - start);
        start = -1;
      }
    }
  }
  if (start >= 0) parts.push(start + 1, last + 1 - start);
  return parts.join(" ");
}

/** The inverse of rleEncode. */
export function rleDecode(text, width, height) {
  const mask = new Uint8Array(width * height);
  const numbers = text.trim() ? text.trim().split(/\s+/).map(Number) : [];
  for (let i = 0; i + 1 < numbers.length; i += 2) {
    for (let n = numbers[i] - 1; n < numbers[i] - 1 + numbers[i + 1]; n++) {
      mask[(n % height) * width + Math.floor(n / height)] = 1;
    }
  }
  return mask;
}

export function area(mask) {
  let total = 0;
  for (let i = 0; i < mask.length; i++) total += mask[i] ? 1 : 0;
  return total;
}

/** Dice of two same-size masks; 1 when both are empty (the competition's rule). */
export function dice(predicted, truth) {
  let both = 0, sum = 0;
  for (let i = 0; i < predicted.length; i++) {
    const p = predicted[i] ? 1 : 0, t = truth[i] ? 1 : 0;
    both += p & t;
    sum += p + t;
  }
  return sum === 0 ? 1 : (2 * both) / sum;
}
