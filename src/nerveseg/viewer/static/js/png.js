// Indexed (palette) PNGs, written as Pillow writes nerveseg predict's masks of several
// structures (nerveseg.inference.indexed_masks): the smallest bit depth the palette fits
// (1, 2, 4 or 8 bits), no row filter, chunks in Pillow's order (IHDR, tEXt, PLTE, IDAT, IEND).
// A canvas cannot write a palette image, hence this module; the pixels are compressed by the
// browser's own zlib (CompressionStream), so a file decodes to predict's exactly, while its
// compressed bytes may differ.

import { crc32 } from "./zip.js";

function chunk(type, data) {
  const bytes = new Uint8Array(12 + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, data.length);
  bytes.set(new TextEncoder().encode(type), 4);
  bytes.set(data, 8);
  view.setUint32(8 + data.length, crc32(bytes.subarray(4, 8 + data.length)));
  return bytes;
}

/** Pillow's choice of bit depth for a palette of `colours` entries. */
function bitDepth(colours) {
  return colours <= 2 ? 1 : colours <= 4 ? 2 : colours <= 16 ? 4 : 8;
}

/** Rows of `labels` packed at `bits` per pixel (first pixel in the high bits), each after a
 * filter byte of 0 (none). */
function packRows(labels, width, height, bits) {
  const rowBytes = Math.ceil((width * bits) / 8);
  const raw = new Uint8Array((rowBytes + 1) * height);
  const perByte = 8 / bits;
  for (let y = 0; y < height; y++) {
    const row = y * (rowBytes + 1) + 1;
    for (let x = 0; x < width; x++) {
      raw[row + Math.floor(x / perByte)] |= labels[y * width + x] << (8 - bits * (1 + (x % perByte)));
    }
  }
  return raw;
}

async function deflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A palette PNG of row-major `labels` (values index `palette`).
 * @param {Uint8Array} labels width * height palette indices
 * @param {number[][]} palette [r, g, b] per index
 * @param {Object<string, string>} texts tEXt chunks (Latin-1 keys and values)
 * @returns {Promise<Uint8Array>}
 */
export async function indexedPng(labels, width, height, palette, texts = {}) {
  const bits = bitDepth(palette.length);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([bits, 3, 0, 0, 0], 8); // depth, colour type 3 (palette), deflate, no filter, no interlace
  const latin1 = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    ...Object.entries(texts).map(([key, value]) => chunk("tEXt", latin1(`${key}\0${value}`))),
    chunk("PLTE", Uint8Array.from(palette.flat())),
    chunk("IDAT", await deflate(packRows(labels, width, height, bits))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
