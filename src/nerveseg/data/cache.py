"""A decode-once cache: the resized frames of a data folder in one array file.

Decoding 5,635 LZW TIFFs and resizing them takes about a minute on two cores; reading the
cached arrays back takes well under a second. The cache is keyed by everything that changes
its content:

* every sample's name, subject and files, with each file's size and modification time (the
  way ``make`` decides what is stale: a rewritten file gets a new mtime), and the hash of its
  ``train_masks.csv`` row;
* the preprocessing settings: target size, how frames reach it (``data.resize``), what mask
  values mean (``data.structures``, ``data.ignore_values``), mask thresholding, the skip-bad
  policy, and the cache format version (bumped whenever decoding or resizing changes).

A changed file or setting gives a new key, hence a new cache entry; entries are never edited in
place. The cache holds arrays only: it never replaces, moves or writes into the user's data.

Layout of an entry ``KEY.npz`` (uncompressed, loads without pickle): ``images`` ``(N, h, w)``
uint8, ``masks`` bit-packed per structure ``(N, S, ceil(h*w/8))`` uint8 (one eighth of the bytes
per structure), and ``meta`` JSON with names, original shapes and the problems skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nerveseg.data.loading import LoadedSet, load_set
from nerveseg.data.samples import Sample, warn_skipped
from nerveseg.data.structures import DEFAULT_LABELS, LabelMap, pack, unpack
from nerveseg.errors import Problem
from nerveseg.files import atomic_path

log = logging.getLogger(__name__)

# Bump when decoding, resizing or the entry layout changes: old entries then stop matching.
# 2: masks packed per structure bit, keys name the structures and the resize mode.
CACHE_FORMAT = 2
ENV_CACHE_DIR = "NERVESEG_CACHE"


def default_cache_dir() -> Path:
    """``$NERVESEG_CACHE``, else ``$XDG_CACHE_HOME/nerveseg``, else ``~/.cache/nerveseg``."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nerveseg"


def cache_key(
    samples: Sequence[Sample],
    size: tuple[int, int],
    *,
    skip_bad: bool,
    threshold_masks: bool,
    labels: LabelMap = DEFAULT_LABELS,
    resize: str = "stretch",
) -> str:
    """A hex digest that changes when any file, CSV row or preprocessing setting changes.

    A one-structure entry is never served to a two-structure config: the structures (names,
    values, their order) and the ignored values are part of the key.
    """
    digest = hashlib.sha256()
    settings = {
        "format": CACHE_FORMAT,
        "size": list(size),
        "skip_bad": skip_bad,
        "threshold_masks": threshold_masks,
        "structures": [[name, values] for name, values in labels.structures.items()],
        "ignore_values": list(labels.ignore),
        "resize": resize,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for sample in samples:
        digest.update(_sample_fingerprint(sample).encode())
    return digest.hexdigest()[:32]


def _sample_fingerprint(sample: Sample) -> str:
    parts = [sample.name, sample.subject, _file_fingerprint(sample.image_path)]
    if sample.mask_path is not None:
        parts.append(_file_fingerprint(sample.mask_path))
    if sample.mask_rle is not None:
        parts.append(hashlib.sha1(sample.mask_rle.encode()).hexdigest())
    return "|".join(parts) + "\n"


def _file_fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def load_set_cached(
    samples: Sequence[Sample],
    size: tuple[int, int],
    *,
    cache_dir: Path | None = None,
    labels: LabelMap = DEFAULT_LABELS,
    resize: str = "stretch",
    skip_bad: bool = False,
    threshold_masks: bool = False,
    progress: bool = False,
) -> LoadedSet:
    """:func:`~nerveseg.data.loading.load_set` through the cache: decode once, then reuse.

    Only labelled sets with a fixed ``size`` are cached (training and validation); a miss
    decodes as usual and then stores the entry atomically, so a killed run leaves no half file.
    A damaged entry is ignored and rebuilt.
    """
    samples = list(samples)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = cache_key(
        samples,
        size,
        skip_bad=skip_bad,
        threshold_masks=threshold_masks,
        labels=labels,
        resize=resize,
    )
    entry = cache_dir / f"{key}.npz"
    by_name = {sample.name: sample for sample in samples}
    cached = _read_entry(entry, by_name, labels.count)
    if cached is not None:
        log.info("using cached frames %s", entry)
        if cached.problems:
            warn_skipped(cached.problems, "loading images (cached)")
        return cached
    loaded = load_set(
        samples,
        size,
        labels=labels,
        resize=resize,
        skip_bad=skip_bad,
        threshold_masks=threshold_masks,
        progress=progress,
    )
    if loaded.masks is not None:
        try:
            _write_entry(entry, loaded, labels.count)
        except OSError as exc:  # a full or read-only cache folder must not stop training
            log.warning("could not write the frame cache %s: %s", entry, exc)
        else:
            log.info("cached frames in %s", entry)
    return loaded


def _write_entry(entry: Path, loaded: LoadedSet, structures: int) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    count, height, width = loaded.images.shape
    meta = {
        "format": CACHE_FORMAT,
        "names": [sample.name for sample in loaded.samples],
        "original_shapes": [list(shape) for shape in loaded.original_shapes],
        "mask_shape": [height, width],
        "structures": structures,
        "problems": [[str(p.path), p.reason] for p in loaded.problems],
    }
    planes = unpack(loaded.masks.reshape(count, 1, -1), structures)[:, :, 0]  # (N, S, h*w)
    packed = np.packbits(planes.astype(bool), axis=2)
    with atomic_path(entry) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            images=loaded.images,
            masks=packed,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )


def _read_entry(entry: Path, by_name: dict[str, Sample], structures: int) -> LoadedSet | None:
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode())
            images = arrays["images"]
            packed = arrays["masks"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring a damaged frame cache %s (%s); rebuilding it", entry, exc)
        return None
    if (
        meta.get("format") != CACHE_FORMAT
        or meta.get("structures") != structures
        or any(name not in by_name for name in meta["names"])
    ):
        return None
    height, width = meta["mask_shape"]
    planes = np.unpackbits(packed, axis=2, count=height * width)  # (N, S, h*w) in {0, 1}
    masks = pack(planes.reshape(len(planes), structures, height, width))
    return LoadedSet(
        samples=[by_name[name] for name in meta["names"]],
        images=images,
        masks=masks,
        original_shapes=[tuple(shape) for shape in meta["original_shapes"]],
        problems=[Problem(Path(path), reason) for path, reason in meta["problems"]],
    )
