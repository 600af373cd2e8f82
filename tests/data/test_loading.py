"""load_set: shapes, dtypes, resizing rules, and every pixel-level problem collected by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.data.kaggle import KAGGLE_SHAPE
from nerveseg.data.loading import LoadedSet, load_set, read_full_mask
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample, discover_labelled, discover_unlabelled
from nerveseg.errors import DataError, NervesegError

H, W = 48, 64


def _write(path: Path, pixels: np.ndarray, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)
    return path


def _mask(shape: tuple[int, int] = (H, W)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[shape[0] // 4 : shape[0] // 2, shape[1] // 4 : shape[1] // 2] = 255
    return mask


def _labelled(folder: Path, count: int = 3, shape: tuple[int, int] = (H, W)) -> list[Sample]:
    """``count`` pairs whose scans are constant ``10 * i`` so order can be checked."""
    for i in range(1, count + 1):
        _write(folder / f"1_{i}.png", np.full(shape, 10 * i, np.uint8))
        _write(folder / f"1_{i}_mask.png", _mask(shape))
    return discover_labelled(folder)


def _kaggle_sample(folder: Path, name: str = "1_1", with_file: bool = True) -> Sample:
    """A full-size Kaggle frame whose mask is known from the CSV (and the file)."""
    mask = _mask(KAGGLE_SHAPE)
    image = _write(folder / f"{name}.tif", np.full(KAGGLE_SHAPE, 50, np.uint8))
    mask_path = _write(folder / f"{name}_mask.tif", mask) if with_file else None
    return Sample(name, name.split("_")[0], image, mask_path, rle_encode(mask))


# ---- shapes and resizing ---------------------------------------------------------------------


def test_resized_labelled_set(tmp_path: Path) -> None:
    samples = _labelled(tmp_path)
    loaded = load_set(samples, (24, 32))
    assert isinstance(loaded, LoadedSet)
    assert loaded.images.shape == (3, 24, 32) and loaded.images.dtype == np.uint8
    assert loaded.masks.shape == (3, 24, 32) and loaded.masks.dtype == np.uint8
    assert set(np.unique(loaded.masks).tolist()) == {0, 1}
    assert loaded.original_shapes == [(H, W)] * 3
    assert loaded.samples == samples and loaded.problems == []
    assert loaded.images[:, 0, 0].tolist() == [10, 20, 30]  # same order as samples


def test_original_size_is_kept_with_none(tmp_path: Path) -> None:
    loaded = load_set(_labelled(tmp_path), None)
    assert loaded.images.shape == (3, H, W)
    assert np.array_equal(loaded.masks[0], (_mask() > 0).astype(np.uint8))


def test_upscaling_works_too(tmp_path: Path) -> None:
    loaded = load_set(_labelled(tmp_path, 1), (96, 128))
    assert loaded.images.shape == (1, 96, 128)
    assert loaded.masks.sum() == 4 * (_mask() > 0).sum()


def test_sizes_may_differ_when_resizing_but_not_otherwise(tmp_path: Path) -> None:
    samples = _labelled(tmp_path / "a", 2) + _labelled(tmp_path / "b", 1, shape=(30, 40))
    assert load_set(samples, (16, 16)).original_shapes == [(H, W), (H, W), (30, 40)]
    with pytest.raises(DataError) as error:
        load_set(samples, None)
    (problem,) = error.value.problems
    assert problem.path == tmp_path / "b" / "1_1.png"
    assert "is 40x30 but most images are 64x48" in problem.reason


def test_mask_downsampling_keeps_pixels_at_least_half_covered(tmp_path: Path) -> None:
    # Each 2x2 block of the 4x4 mask becomes one pixel; coverage 1/4, 2/4, 3/4, 4/4.
    mask = np.array(
        [[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]],
        dtype=np.uint8,
    )
    _write(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "a_mask.png", mask * 255)
    loaded = load_set(discover_labelled(tmp_path), (2, 2))
    assert loaded.masks[0].tolist() == [[0, 1], [1, 1]]


def test_image_resize_is_antialiased(tmp_path: Path) -> None:
    stripes = np.zeros((H, W), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes would alias to black or white without a filter
    _write(tmp_path / "a.png", stripes)
    _write(tmp_path / "a_mask.png", _mask())
    image = load_set(discover_labelled(tmp_path), (12, 16)).images[0]
    assert 100 <= image.mean() <= 155 and image.std() < 20


def test_unlabelled_set_has_no_masks(tmp_path: Path) -> None:
    _labelled(tmp_path)
    loaded = load_set(discover_unlabelled(tmp_path), (24, 32), progress=True)
    assert loaded.masks is None and loaded.images.shape == (3, 24, 32)


def test_csv_only_masks_decode_at_kaggle_size(tmp_path: Path) -> None:
    sample = _kaggle_sample(tmp_path, with_file=False)
    loaded = load_set([sample], None)
    assert np.array_equal(loaded.masks[0], (_mask(KAGGLE_SHAPE) > 0).astype(np.uint8))
    assert loaded.original_shapes == [KAGGLE_SHAPE]


def test_csv_and_file_that_agree_load(tmp_path: Path) -> None:
    loaded = load_set([_kaggle_sample(tmp_path)], (105, 145))
    assert loaded.masks.shape == (1, 105, 145)


def test_empty_sample_list_is_an_error() -> None:
    with pytest.raises(NervesegError, match="no samples"):
        load_set([], (8, 8))


def test_bad_size_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_set(_labelled(tmp_path, 1), (0, 8))


# ---- pixel-level problems --------------------------------------------------------------------


def test_mask_size_mismatch_message(tmp_path: Path) -> None:
    _write(tmp_path / "5_36.png", np.zeros((420, 580), np.uint8))
    _write(tmp_path / "5_36_mask.png", np.zeros((300, 400), np.uint8))
    with pytest.raises(DataError) as error:
        load_set(discover_labelled(tmp_path), (32, 32))
    assert str(error.value.problems[0]) == (
        f"{tmp_path / '5_36_mask.png'}: mask is 400x300 but its image is 580x420; "
        "masks must match their image's size"
    )


def test_every_problem_is_collected_and_skip_bad_keeps_the_rest(tmp_path: Path) -> None:
    _labelled(tmp_path, 2)
    (tmp_path / "2_1.png").write_bytes(b"\x89PNG garbage")  # corrupt scan
    _write(tmp_path / "2_1_mask.png", _mask())
    _write(tmp_path / "3_1.png", np.zeros((H, W), np.uint8))
    _write(tmp_path / "3_1_mask.png", np.where(_mask() > 0, 255, 3).astype(np.uint8))  # 3 values
    _write(tmp_path / "4_1.png", np.zeros((H, W), np.uint8))
    _write(tmp_path / "4_1_mask.png", _mask()[:10])  # wrong size
    samples = discover_labelled(tmp_path)
    with pytest.raises(DataError) as error:
        load_set(samples, (24, 32))
    reasons = {problem.path.name: problem.reason for problem in error.value.problems}
    assert set(reasons) == {"2_1.png", "3_1_mask.png", "4_1_mask.png"}
    assert "not a readable image" in reasons["2_1.png"]
    assert "not binary" in reasons["3_1_mask.png"]
    assert "mask is 64x10 but its image is 64x48" in reasons["4_1_mask.png"]

    with pytest.warns(UserWarning, match="3 problem"):
        loaded = load_set(samples, (24, 32), skip_bad=True)
    assert [s.name for s in loaded.samples] == ["1_1", "1_2"]
    assert loaded.images.shape == (2, 24, 32) and loaded.masks.shape == (2, 24, 32)
    assert len(loaded.problems) == 3


def test_nothing_usable_raises_even_with_skip_bad(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"junk")
    _write(tmp_path / "a_mask.png", _mask())
    with pytest.raises(DataError, match="No usable sample"):
        load_set(discover_labelled(tmp_path), (8, 8), skip_bad=True)


def test_jpeg_mask_needs_threshold(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", np.zeros((H, W), np.uint8))
    _write(tmp_path / "a_mask.jpg", _mask(), quality=70)
    samples = discover_labelled(tmp_path)
    with pytest.raises(DataError, match=r"a_mask.jpg: mask is not binary .*JPEG.*PNG or TIFF"):
        load_set(samples, None)
    loaded = load_set(samples, None, threshold_masks=True)
    assert np.count_nonzero(loaded.masks[0] != (_mask() > 0)) < 0.01 * H * W


def test_csv_disagreeing_with_mask_file(tmp_path: Path) -> None:
    sample = _kaggle_sample(tmp_path)
    other = Sample(sample.name, sample.subject, sample.image_path, sample.mask_path, "1 10")
    with pytest.raises(DataError) as error:
        load_set([other], (16, 16))
    (problem,) = error.value.problems
    assert problem.path == sample.mask_path
    assert "disagrees with the train_masks.csv row for 1_1" in problem.reason


def test_csv_mask_is_decoded_at_the_image_size(tmp_path: Path) -> None:
    # A small Kaggle-layout set (synthetic, say) carries RLE rows for its own frame size.
    image = _write(tmp_path / "1_1.png", np.zeros((H, W), np.uint8))
    loaded = load_set([Sample("1_1", "1", image, mask_rle="1 5")], None)
    assert loaded.masks[0][:5, 0].all() and loaded.masks[0].sum() == 5


def test_csv_mask_that_does_not_fit_the_image(tmp_path: Path) -> None:
    image = _write(tmp_path / "1_1.png", np.zeros((H, W), np.uint8))
    with pytest.raises(
        DataError, match=r"1_1\.png: its train_masks.csv row does not fit this 64x48"
    ):
        load_set([Sample("1_1", "1", image, mask_rle=f"{H * W} 5")], (16, 16))


def test_unlabelled_sample_in_labelled_set(tmp_path: Path) -> None:
    samples = _labelled(tmp_path, 1)
    lonely = Sample("x", "x", _write(tmp_path / "x.png", np.zeros((H, W), np.uint8)))
    with pytest.raises(DataError, match=r"x\.png: has no mask"):
        load_set([*samples, lonely], None)


# ---- full-resolution masks -------------------------------------------------------------------


def test_read_full_mask_from_file_and_from_rle(tmp_path: Path) -> None:
    expected = _mask(KAGGLE_SHAPE) > 0
    from_file = _kaggle_sample(tmp_path / "f")
    from_rle = _kaggle_sample(tmp_path / "r", with_file=False)
    for sample in (from_file, from_rle):
        mask = read_full_mask(sample, KAGGLE_SHAPE)
        assert mask.dtype == np.uint8 and np.array_equal(mask, expected)  # packed: one bit


def test_read_full_mask_problems(tmp_path: Path) -> None:
    sample = _labelled(tmp_path, 1)[0]
    with pytest.raises(DataError, match="mask is 64x48 but its image is 580x420"):
        read_full_mask(sample, KAGGLE_SHAPE)
    with pytest.raises(DataError, match="has no mask"):
        read_full_mask(Sample("x", "x", sample.image_path), (H, W))
