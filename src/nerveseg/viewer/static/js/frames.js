// Frames from files: decoding (TIFF here, PNG/JPEG/BMP by the browser) to uint8 gray, and
// pairing scans with their masks by nerveseg's naming (NAME_mask.ext beside NAME.ext, or
// masks/NAME.ext beside images/NAME.ext).

import { rgbaToGray } from "./imaging.js";
import { decodeTiff, isTiff } from "./tiff.js";

const IMAGE = /\.(png|tiff?|jpe?g|bmp|gif|webp)$/i;
const VIDEO = /\.(mp4|webm|ogv|mov|m4v|mkv)$/i;

export const isImageName = (name) => IMAGE.test(name) && !name.startsWith(".");
export const isVideoFile = (file) => file.type.startsWith("video/") || VIDEO.test(file.name);

const stem = (name) => name.replace(/^.*\//, "").replace(/\.[^.]*$/, "");

/** What a file is: an image for `name` (kind "image" or "mask"), by nerveseg's naming rules. */
export function roleOf(path) {
  const base = stem(path);
  if (base.endsWith("_mask") && base.length > 5) return { kind: "mask", name: base.slice(0, -5) };
  if (/(^|\/)masks\//.test(path)) return { kind: "mask", name: base };
  return { kind: "image", name: base };
}

/** Bytes of a File or of a URL. */
export async function bytesOf(source) {
  if (typeof source === "string") {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  return new Uint8Array(await source.arrayBuffer());
}

/** Any image file's bytes -> {width, height, gray}; throws with a reason a person can act on. */
export async function decodeImage(bytes) {
  if (bytes.length === 0) throw new Error("the file is empty");
  if (isTiff(bytes)) return decodeTiff(bytes);
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch {
    throw new Error("not a readable image (unknown format or corrupt file); replace or re-export it");
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  const frame = { width: bitmap.width, height: bitmap.height, gray: rgbaToGray(data, bitmap.width * bitmap.height) };
  bitmap.close();
  return frame;
}

/** A mask file -> (height * width) Uint8Array of 0/1 (non-zero = nerve). */
export async function decodeMask(bytes) {
  const { width, height, gray } = await decodeImage(bytes);
  const mask = new Uint8Array(gray.length);
  for (let i = 0; i < gray.length; i++) mask[i] = gray[i] ? 1 : 0;
  return { width, height, mask };
}

/** Files (with relative paths) -> {images: [{name, source}], masks: Map(name -> source), videos, ignored}. */
export function sortFiles(files) {
  const images = [], masks = new Map(), videos = [], ignored = [];
  for (const file of files) {
    const path = file.webkitRelativePath || file.name;
    if (isVideoFile(file)) videos.push(file);
    else if (isImageName(path)) {
      const role = roleOf(path);
      if (role.kind === "mask") masks.set(role.name, file);
      else images.push({ name: role.name, source: file });
    } else if (!path.split("/").pop().startsWith(".")) ignored.push(path);
  }
  images.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  return { images, masks, videos, ignored };
}

/** Files of a drop, folders walked (their paths kept, for images/ + masks/ layouts). */
export async function droppedFiles(transfer) {
  const entries = Array.from(transfer.items || []).map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return Array.from(transfer.files);
  const files = [];
  const walk = async (entry, path) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      Object.defineProperty(file, "webkitRelativePath", { value: path + file.name });
      files.push(file);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${path}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return files;
}
