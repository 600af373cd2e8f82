// Downloads of what was viewed, as `nerveseg predict` writes them (nerveseg.inference.
// predict_output), and the three buttons that save them. Masks are at the current thresholds:
// frames from files are post-processed again, a video's or camera's frames kept as they were
// drawn (their probabilities are not kept).
//
// One structure: {0, 255} PNGs named NAME_mask.png and the run-length table (submission.csv
// with img,pixels for Kaggle test ids, else masks.csv with name,pixels).
// Several structures: one indexed PNG per frame (value k + 1 = structure k, the first
// structure winning where structures overlap, each structure's colour in the palette, the
// names in a `nerveseg-structures` text chunk) and masks.csv with one STRUCTURE_pixels column
// per structure (each whole, overlaps kept); Kaggle test ids add submission.csv of the first
// structure. The CSV button then saves masks.csv, the table that holds every structure; the
// ZIP holds every table, as predict's folder does.

import { rleDecode, rleEncode } from "./masks.js";
import { maskPng } from "./overlay.js";
import { $, masksAt, showMessage, state } from "./page.js";
import { indexedPng } from "./png.js";
import { zipFiles } from "./zip.js";

const NAMES_KEY = "nerveseg-structures"; // nerveseg.inference.indexed_masks.NAMES_KEY

function save(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/**
 * The run-length tables predict writes for `frames` (name -> {width, height, masks}, a mask
 * per structure): [{text, file}], the table of every structure last.
 */
export function rleTables(frames, structures) {
  const names = [...frames.keys()];
  const kaggle = names.length > 0 && names.every((n) => /^\d+$/.test(n));
  const rle = (name, k) => {
    const { width, height, masks } = frames.get(name);
    return rleEncode(masks[k], width, height);
  };
  const table = (file, header, order, row) => {
    const sorted = [...names].sort(order);
    return { file, text: [header, ...sorted.map(row)].join("\n") + "\n" };
  };
  const natural = (a, b) => a.localeCompare(b, undefined, { numeric: true });
  const first = (n) => `${n},${rle(n, 0)}`;
  const byId = (a, b) => Number(a) - Number(b);
  const idRow = (n) => `${Number(n)},${rle(n, 0)}`; // a test id is a number: 012.tif is 12, as predict writes it
  const submission = kaggle ? [table("submission.csv", "img,pixels", byId, idRow)] : [];
  if (structures.length === 1) return kaggle ? submission : [table("masks.csv", "name,pixels", natural, first)];
  const header = ["name", ...structures.map((s) => `${s}_pixels`)].join(",");
  return [...submission, table("masks.csv", header, natural, (n) => [n, ...structures.map((_, k) => rle(n, k))].join(","))];
}

/** Labels of one indexed mask: k + 1 where structure k is, the first structure winning overlaps. */
export function labelImage(masks) {
  const labels = new Uint8Array(masks[0].length);
  for (let k = masks.length - 1; k >= 0; k--) {
    const mask = masks[k];
    for (let i = 0; i < labels.length; i++) if (mask[i]) labels[i] = k + 1;
  }
  return labels;
}

/** NAME_mask.png's bytes: a {0, 255} PNG for one structure, an indexed PNG for several. */
export function maskFile(masks, width, height) {
  const { structures, colours } = state.model;
  if (structures.length === 1) return maskPng(masks[0], width, height);
  const palette = [[0, 0, 0], ...structures.map((_, k) => colours[k])];
  return indexedPng(labelImage(masks), width, height, palette, { [NAMES_KEY]: structures.join(",") });
}

/** name -> {width, height, masks} of everything viewed, masks at the current settings. */
function viewedMasks() {
  const out = new Map();
  for (const [name, r] of state.records) {
    out.set(name, { width: r.width, height: r.height, masks: r.rles.map((rle) => rleDecode(rle, r.width, r.height)) });
  }
  for (const frame of state.frames) {
    if (!frame.result) continue;
    out.set(frame.name, { width: frame.width, height: frame.height, masks: masksAt(frame.result, frame.width, frame.height) });
  }
  return out;
}

async function download(kind) {
  const c = state.current;
  if (kind === "mask") {
    if (!c?.masks) return showMessage("no mask to download yet");
    return save(new Blob([await maskFile(c.masks, c.width, c.height)], { type: "image/png" }), `${c.name}_mask.png`);
  }
  const frames = viewedMasks();
  if (!frames.size) return showMessage("no masks to download yet");
  const tables = rleTables(frames, state.model.structures);
  if (kind === "csv") {
    const csv = tables[tables.length - 1];
    return save(new Blob([csv.text], { type: "text/csv" }), csv.file);
  }
  const files = [];
  for (const [name, m] of frames) files.push({ name: `masks/${name}_mask.png`, bytes: await maskFile(m.masks, m.width, m.height) });
  for (const csv of tables) files.push({ name: csv.file, bytes: new TextEncoder().encode(csv.text) });
  save(zipFiles(files), "nerveseg-masks.zip");
}

export function wireDownloads() {
  for (const kind of ["mask", "zip", "csv"]) $(`download-${kind}`).addEventListener("click", () => download(kind));
}
