// Downloads of what was viewed: masks as {0, 255} PNGs named NAME_mask.png and the run-length
// table, as `nerveseg predict` writes them (submission.csv with img,pixels for Kaggle test ids,
// else masks.csv with name,pixels).

import { rleEncode } from "./masks.js";
import { maskPng } from "./overlay.js";
import { zipFiles } from "./zip.js";

function save(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/** The run-length table of `masks` (name -> {width, height, mask}): {text, file}. */
export function rleCsv(masks) {
  const names = [...masks.keys()];
  const kaggle = names.length > 0 && names.every((n) => /^\d+$/.test(n));
  names.sort((a, b) => (kaggle ? Number(a) - Number(b) : a.localeCompare(b, undefined, { numeric: true })));
  const lines = [kaggle ? "img,pixels" : "name,pixels"];
  for (const name of names) {
    const { width, height, mask } = masks.get(name);
    lines.push(`${name},${rleEncode(mask, width, height)}`);
  }
  return { text: lines.join("\n") + "\n", file: kaggle ? "submission.csv" : "masks.csv" };
}

/** The mask drawn now, as NAME_mask.png. */
export async function downloadMask({ name, mask, width, height }) {
  save(new Blob([await maskPng(mask, width, height)], { type: "image/png" }), `${name}_mask.png`);
}

/** Every mask (masks/NAME_mask.png) and the run-length table in one ZIP. */
export async function downloadZip(masks) {
  const files = [];
  for (const [name, m] of masks) files.push({ name: `masks/${name}_mask.png`, bytes: await maskPng(m.mask, m.width, m.height) });
  const csv = rleCsv(masks);
  files.push({ name: csv.file, bytes: new TextEncoder().encode(csv.text) });
  save(zipFiles(files), "nerveseg-masks.zip");
}

export function downloadCsv(masks) {
  const csv = rleCsv(masks);
  save(new Blob([csv.text], { type: "text/csv" }), csv.file);
}
