// A small baseline TIFF decoder: browsers show PNG and JPEG but not TIFF, and the Kaggle scans
// are LZW-compressed grayscale TIFFs. One image per file (a stack is refused, as
// nerveseg.data.images does), strips, chunky samples; no compression, LZW, PackBits or Deflate,
// with or without the horizontal predictor; 1, 8 or 16 bits; gray, RGB(A) or palette. Values
// become uint8 gray by nerveseg's rules (16-bit scaled by the full range, colour by Pillow's
// luminance).

const TAG = {
  width: 256, height: 257, bits: 258, compression: 259, photometric: 262, stripOffsets: 273,
  samples: 277, rowsPerStrip: 278, stripByteCounts: 279, planar: 284, predictor: 317,
  colorMap: 320, tileWidth: 322,
};
const TYPE_SIZE = { 1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 11: 4, 12: 8, 16: 8 };

export function isTiff(bytes) {
  return bytes.length >= 4 && ((bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 42) ||
    (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[3] === 42));
}

function readIfd(view, offset, little) {
  if (offset + 2 > view.byteLength) throw new Error("truncated TIFF (directory past the end)");
  const count = view.getUint16(offset, little);
  const tags = new Map();
  for (let i = 0; i < count; i++) {
    const at = offset + 2 + i * 12;
    if (at + 12 > view.byteLength) throw new Error("truncated TIFF directory");
    const tag = view.getUint16(at, little), type = view.getUint16(at + 2, little);
    const n = view.getUint32(at + 4, little), size = TYPE_SIZE[type] || 1;
    let where = at + 8;
    if (n * size > 4) where = view.getUint32(at + 8, little);
    if (where + n * size > view.byteLength) throw new Error(`truncated TIFF (tag ${tag} past the end)`);
    const values = [];
    for (let k = 0; k < n; k++) {
      const p = where + k * size;
      if (type === 3 || type === 8) values.push(view.getUint16(p, little));
      else if (type === 4 || type === 9) values.push(view.getUint32(p, little));
      else values.push(view.getUint8(p));
    }
    tags.set(tag, values);
  }
  const nextAt = offset + 2 + count * 12;
  const next = nextAt + 4 <= view.byteLength ? view.getUint32(nextAt, little) : 0;
  return { tags, next };
}

function lzwDecode(input, expected) {
  const out = new Uint8Array(expected);
  const prefix = new Int32Array(4096), suffix = new Uint8Array(4096), first = new Uint8Array(4096);
  const length = new Int32Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1; suffix[i] = i; first[i] = i; length[i] = 1;
  }
  let op = 0, bit = 0, width = 9, next = 258, old = -1;
  const totalBits = input.length * 8;
  const write = (code) => {
    const n = length[code];
    let p = op + n - 1;
    for (let c = code; c !== -1; c = prefix[c]) {
      if (p < expected) out[p] = suffix[c];
      p--;
    }
    op += n;
  };
  const add = (base, char) => {
    if (next >= 4096) return;
    prefix[next] = base; suffix[next] = char; first[next] = first[base];
    length[next] = length[base] + 1;
    next++;
    if (next >= (1 << width) - 1 && width < 12) width++; // TIFF's "early change"
  };
  while (op < expected && bit + width <= totalBits) {
    let code = 0;
    for (let i = 0; i < width; i++, bit++) code = (code << 1) | ((input[bit >> 3] >> (7 - (bit & 7))) & 1);
    if (code === 257) break;
    if (code === 256) {
      width = 9; next = 258; old = -1;
      continue;
    }
    if (old === -1) {
      if (code > 255) throw new Error("corrupt LZW data");
      write(code);
    } else if (code < next) {
      write(code);
      add(old, first[code]);
    } else if (code === next) {
      add(old, first[old]);
      write(code);
    } else {
      throw new Error("corrupt LZW data");
    }
    old = code;
  }
  if (op < expected) throw new Error("truncated TIFF (compressed data ends early)");
  return out;
}

function packBitsDecode(input, expected) {
  const out = new Uint8Array(expected);
  let ip = 0, op = 0;
  while (op < expected && ip < input.length) {
    const n = (input[ip++] << 24) >> 24;
    if (n >= 0) {
      for (let i = 0; i <= n && op < expected; i++) out[op++] = input[ip++];
    } else if (n !== -128) {
      const value = input[ip++];
      for (let i = 0; i < 1 - n && op < expected; i++) out[op++] = value;
    }
  }
  if (op < expected) throw new Error("truncated TIFF (PackBits data ends early)");
  return out;
}

async function inflate(input, expected) {
  const stream = new Blob([input]).stream().pipeThrough(new DecompressionStream("deflate"));
  const out = new Uint8Array(await new Response(stream).arrayBuffer());
  if (out.length < expected) throw new Error("truncated TIFF (Deflate data ends early)");
  return out.subarray(0, expected);
}

function rintHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** Decode a TIFF file's bytes to `{width, height, gray}` (gray: uint8, row-major). */
export async function decodeTiff(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isTiff(bytes)) throw new Error("not a TIFF file");
  const little = bytes[0] === 0x49;
  const { tags, next } = readIfd(view, view.getUint32(4, little), little);
  if (next !== 0) throw new Error("holds several images (a stack); save one image per file");
  const get = (tag, fallback) => (tags.has(tag) ? tags.get(tag)[0] : fallback);
  const width = get(TAG.width), height = get(TAG.height);
  if (!width || !height) throw new Error("TIFF without a width or height");
  if (tags.has(TAG.tileWidth)) throw new Error("tiled TIFF is not supported; save it with strips");
  const samples = get(TAG.samples, 1), bits = get(TAG.bits, 1), compression = get(TAG.compression, 1);
  const photometric = get(TAG.photometric, 1), predictor = get(TAG.predictor, 1);
  if (get(TAG.planar, 1) !== 1) throw new Error("planar TIFF is not supported");
  if (![1, 8, 16].includes(bits)) throw new Error(`${bits}-bit TIFF is not supported; save it as 8- or 16-bit`);
  const rowBytes = Math.ceil((width * samples * bits) / 8);
  const rowsPerStrip = Math.min(get(TAG.rowsPerStrip, height), height);
  const offsets = tags.get(TAG.stripOffsets) || [], counts = tags.get(TAG.stripByteCounts) || [];
  if (offsets.length === 0 || offsets.length !== counts.length) throw new Error("TIFF without strips");
  const data = new Uint8Array(rowBytes * height);
  for (let s = 0; s < offsets.length; s++) {
    const rows = Math.min(rowsPerStrip, height - s * rowsPerStrip);
    if (rows <= 0) break;
    if (offsets[s] + counts[s] > bytes.length) throw new Error("truncated TIFF (a strip runs past the end)");
    const raw = bytes.subarray(offsets[s], offsets[s] + counts[s]);
    const expected = rows * rowBytes;
    let strip;
    if (compression === 1) {
      if (raw.length < expected) throw new Error("truncated TIFF (a strip is short)");
      strip = raw.subarray(0, expected);
    } else if (compression === 5) strip = lzwDecode(raw, expected);
    else if (compression === 32773) strip = packBitsDecode(raw, expected);
    else if (compression === 8 || compression === 32946) strip = await inflate(raw, expected);
    else throw new Error(`TIFF compression ${compression} is not supported; save it uncompressed or LZW`);
    data.set(strip, s * rowsPerStrip * rowBytes);
  }
  const values = unpack(data, width, height, samples, bits, little, predictor, rowBytes);
  return { width, height, gray: toGray(values, width * height, samples, bits, photometric, tags) };
}

function unpack(data, width, height, samples, bits, little, predictor, rowBytes) {
  let values;
  if (bits === 1) {
    values = new Uint8Array(width * height * samples);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width * samples; x++) values[y * width * samples + x] = (data[y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1;
    }
    return values;
  }
  if (bits === 16) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    values = new Uint16Array(width * height * samples);
    for (let i = 0; i < values.length; i++) values[i] = view.getUint16(2 * i, little);
  } else {
    values = data;
  }
  if (predictor === 2) {
    const row = width * samples;
    for (let y = 0; y < height; y++) {
      for (let x = samples; x < row; x++) values[y * row + x] += values[y * row + x - samples];
    }
  } else if (predictor !== 1) {
    throw new Error(`TIFF predictor ${predictor} is not supported`);
  }
  return values;
}

function toGray(values, count, samples, bits, photometric, tags) {
  const gray = new Uint8Array(count);
  const scale = Math.fround(255 / 65535);
  const to8 = bits === 16 ? (v) => rintHalfEven(Math.fround(v * scale)) : bits === 1 ? (v) => v * 255 : (v) => v;
  if (photometric === 3) {
    const map = tags.get(TAG.colorMap);
    if (!map) throw new Error("palette TIFF without a colour map");
    const n = map.length / 3;
    for (let i = 0; i < count; i++) {
      const v = values[i * samples];
      gray[i] = ((map[v] >> 8) * 19595 + (map[n + v] >> 8) * 38470 + (map[2 * n + v] >> 8) * 7471 + 0x8000) >>> 16;
    }
    return gray;
  }
  if (photometric === 2 && samples >= 3) {
    for (let i = 0; i < count; i++) {
      const j = i * samples;
      gray[i] = (to8(values[j]) * 19595 + to8(values[j + 1]) * 38470 + to8(values[j + 2]) * 7471 + 0x8000) >>> 16;
    }
    return gray;
  }
  if (photometric !== 0 && photometric !== 1) throw new Error(`TIFF photometric ${photometric} is not supported`);
  for (let i = 0; i < count; i++) {
    const v = to8(values[i * samples]);
    gray[i] = photometric === 0 ? 255 - v : v;
  }
  return gray;
}
