"""The frame cache: hits return what a fresh decode returns; any change misses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.data import cache as cache_module
from nerveseg.data.cache import cache_key, default_cache_dir, load_set_cached
from nerveseg.data.images import write_mask_png
from nerveseg.data.loading import load_set
from nerveseg.data.samples import discover_labelled

SIZE = (32, 40)


@pytest.fixture
def data(tiny_data: Path, tmp_path: Path) -> Path:
    """A private copy: these tests touch files."""
    return Path(shutil.copytree(tiny_data, tmp_path / "data"))


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.npz"))


def test_hit_equals_fresh_decode(data: Path, tmp_path: Path) -> None:
    samples = discover_labelled(data)
    fresh = load_set(samples, SIZE)
    first = load_set_cached(samples, SIZE, cache_dir=tmp_path / "c")
    second = load_set_cached(samples, SIZE, cache_dir=tmp_path / "c")
    assert len(_entries(tmp_path / "c")) == 1
    for loaded in (first, second):
        assert [s.name for s in loaded.samples] == [s.name for s in fresh.samples]
        np.testing.assert_array_equal(loaded.images, fresh.images)
        np.testing.assert_array_equal(loaded.masks, fresh.masks)
        assert loaded.original_shapes == fresh.original_shapes
    assert second.masks.dtype == np.uint8 and set(np.unique(second.masks)) <= {0, 1}


def test_hit_does_not_decode(data: Path, tmp_path: Path, monkeypatch) -> None:
    samples = discover_labelled(data)
    load_set_cached(samples, SIZE, cache_dir=tmp_path / "c")

    def fail(*args, **kwargs):
        raise AssertionError("decoded although the cache holds these frames")

    monkeypatch.setattr(cache_module, "load_set", fail)
    load_set_cached(samples, SIZE, cache_dir=tmp_path / "c")


def test_changed_setting_changes_key(data: Path) -> None:
    samples = discover_labelled(data)
    base = cache_key(samples, SIZE, skip_bad=False, threshold_masks=False)
    assert base == cache_key(samples, SIZE, skip_bad=False, threshold_masks=False)
    assert base != cache_key(samples, (64, 80), skip_bad=False, threshold_masks=False)
    assert base != cache_key(samples, SIZE, skip_bad=True, threshold_masks=False)
    assert base != cache_key(samples, SIZE, skip_bad=False, threshold_masks=True)
    assert base != cache_key(samples[:-1], SIZE, skip_bad=False, threshold_masks=False)


def _folder_set(root: Path) -> Path:
    """Three 64x80 frames in the NAME.png + NAME_mask.png layout (no CSV to disagree with)."""
    rng = np.random.default_rng(0)
    root.mkdir()
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (64, 80), dtype=np.uint8)).save(
            root / f"1_{index}.png"
        )
        write_mask_png(root / f"1_{index}_mask.png", np.zeros((64, 80), dtype=bool))
    return root


def test_rewritten_mask_invalidates(tmp_path: Path) -> None:
    root = _folder_set(tmp_path / "folder")
    before = load_set_cached(discover_labelled(root), SIZE, cache_dir=tmp_path / "c")
    assert before.masks.sum() == 0
    half = np.zeros((64, 80), dtype=bool)
    half[:32] = True
    write_mask_png(root / "1_1_mask.png", half)
    after = load_set_cached(discover_labelled(root), SIZE, cache_dir=tmp_path / "c")
    assert len(_entries(tmp_path / "c")) == 2
    row = [s.name for s in after.samples].index("1_1")
    assert after.masks[row].mean() == pytest.approx(0.5)


def test_touched_image_invalidates(data: Path, tmp_path: Path) -> None:
    samples = discover_labelled(data)
    load_set_cached(samples, SIZE, cache_dir=tmp_path / "c")
    path = samples[0].image_path
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    load_set_cached(discover_labelled(data), SIZE, cache_dir=tmp_path / "c")
    assert len(_entries(tmp_path / "c")) == 2


def test_damaged_entry_is_rebuilt(data: Path, tmp_path: Path) -> None:
    samples = discover_labelled(data)
    load_set_cached(samples, SIZE, cache_dir=tmp_path / "c")
    (entry,) = _entries(tmp_path / "c")
    entry.write_bytes(b"not an npz")
    again = load_set_cached(samples, SIZE, cache_dir=tmp_path / "c")
    assert len(again.samples) == len(samples)
    with np.load(entry, allow_pickle=False) as arrays:
        assert arrays["images"].shape == again.images.shape


def test_unwritable_cache_still_loads(data: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    loaded = load_set_cached(discover_labelled(data), SIZE, cache_dir=blocker / "c")
    assert len(loaded.samples) > 0


def test_default_dir_follows_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NERVESEG_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("NERVESEG_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "nerveseg"
