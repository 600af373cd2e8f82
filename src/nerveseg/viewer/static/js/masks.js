// Masks as the competition writes and scores them: nerveseg.data.rle's run-length code
// (column-major, 1-based `start length` pairs, "" for an empty mask) and nerveseg.metrics.dice
// with the empty/empty rule (1).

/** Run-length code of a row-major (height * width) mask, pixels numbered down the columns. */
export function rleEncode(mask, width, height) {
  const parts = [];
  let start = -1, n = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++, n++) {
      const on = mask[y * width + x] !== 0;
      if (on && start < 0) start = n;
      else if (!on && start >= 0) {
        parts.push(start + 1, n - start);
        start = -1;
      }
    }
  }
  if (start >= 0) parts.push(start + 1, n - start);
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
