"""Reading scans and masks in every pixel format, and refusing broken files by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.data.images import read_image, read_mask, write_mask_png
from nerveseg.errors import DataError

RNG = np.random.default_rng(0)
GRAY = RNG.integers(0, 256, (48, 64), dtype=np.uint8)
BINARY = np.zeros((48, 64), bool)
BINARY[10:30, 20:40] = True


def _save(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


def _problem_text(error: pytest.ExceptionInfo[DataError]) -> str:
    return str(error.value)


# ---- scans -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp.png", ".TIF"])
def test_gray_round_trips_exactly(tmp_path: Path, suffix: str) -> None:
    path = _save(tmp_path / f"a{suffix}", Image.fromarray(GRAY))
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (48, 64)
    assert np.array_equal(image, GRAY)


def test_lzw_tiff_like_kaggle(tmp_path: Path) -> None:
    path = _save(tmp_path / "5_1.tif", Image.fromarray(GRAY), compression="tiff_lzw")
    assert np.array_equal(read_image(path), GRAY)


def test_rgb_with_equal_channels_keeps_values(tmp_path: Path) -> None:
    rgb = np.repeat(GRAY[..., None], 3, axis=2)
    path = _save(tmp_path / "a.png", Image.fromarray(rgb))
    assert np.array_equal(read_image(path), GRAY)


def test_coloured_rgb_becomes_luminance(tmp_path: Path) -> None:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    path = _save(tmp_path / "a.png", Image.fromarray(rgb))
    image = read_image(path)
    assert image.shape == (48, 64)
    assert np.all(image == 76)  # ITU-R 601: 0.299 * 255


def test_rgba_and_la_use_the_gray_values(tmp_path: Path) -> None:
    rgba = np.dstack([GRAY, GRAY, GRAY, np.full_like(GRAY, 200)])
    la = Image.fromarray(GRAY).convert("LA")
    assert np.array_equal(read_image(_save(tmp_path / "a.png", Image.fromarray(rgba))), GRAY)
    assert np.array_equal(read_image(_save(tmp_path / "b.png", la)), GRAY)


def test_sixteen_bit_is_scaled_to_eight(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    path = _save(tmp_path / "a.png", Image.fromarray(values))
    image = read_image(path)
    assert image.dtype == np.uint8
    assert image.tolist() == [[0, 1, 255, 128]]


def test_palette_image_reads_colours_not_indices(tmp_path: Path) -> None:
    palette_image = Image.fromarray(GRAY).convert("P")
    path = _save(tmp_path / "a.png", palette_image)
    assert np.array_equal(read_image(path), np.asarray(palette_image.convert("L")))


def test_jpeg_rgb_reads_as_one_channel(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.jpg", Image.fromarray(GRAY).convert("RGB"), quality=95)
    image = read_image(path)
    assert image.shape == (48, 64) and image.dtype == np.uint8


def test_random_bytes_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "5_36.tif"
    path.write_bytes(RNG.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError) as error:
        read_image(path)
    assert "5_36.tif" in _problem_text(error)
    assert error.value.problems[0].path == path
    assert "Traceback" not in _problem_text(error)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's own note on the cut TIFF
@pytest.mark.parametrize(
    ("suffix", "options"), [(".png", {}), (".tif", {}), (".tif", {"compression": "tiff_lzw"})]
)
def test_truncated_file_is_refused_by_name(tmp_path: Path, suffix: str, options: dict) -> None:
    path = _save(tmp_path / f"cut{suffix}", Image.fromarray(GRAY), **options)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=f"cut{suffix}"):
        read_image(path)


def test_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothere\.png: file not found"):
        read_image(tmp_path / "nothere.png")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.png"):
        read_image(path)


def test_multi_frame_stack_is_refused(tmp_path: Path) -> None:
    frames = [Image.fromarray(GRAY), Image.fromarray(255 - GRAY)]
    path = tmp_path / "stack.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(DataError, match=r"stack\.tif: holds 2 frames"):
        read_image(path)


def test_float_image_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "f.tif", Image.fromarray(GRAY.astype(np.float32)))
    with pytest.raises(DataError, match="floating-point"):
        read_image(path)


# ---- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("foreground", [255, 1, 7])
def test_mask_with_zero_and_one_value_is_binary(tmp_path: Path, foreground: int) -> None:
    path = _save(tmp_path / "m.png", Image.fromarray(BINARY.astype(np.uint8) * foreground))
    mask = read_mask(path)
    assert mask.dtype == bool and np.array_equal(mask, BINARY)


def test_empty_and_full_masks(tmp_path: Path) -> None:
    empty = _save(tmp_path / "e.png", Image.fromarray(np.zeros((4, 5), np.uint8)))
    full = _save(tmp_path / "f.png", Image.fromarray(np.full((4, 5), 255, np.uint8)))
    assert not read_mask(empty).any()
    assert read_mask(full).all()


def test_one_bit_palette_and_sixteen_bit_masks(tmp_path: Path) -> None:
    one_bit = _save(tmp_path / "a.png", Image.fromarray(BINARY))
    palette = Image.fromarray(BINARY.astype(np.uint8), mode=None).convert("P")
    sixteen = Image.fromarray(BINARY.astype(np.uint16) * 65535)
    assert np.array_equal(read_mask(one_bit), BINARY)
    assert np.array_equal(read_mask(_save(tmp_path / "b.png", palette)), BINARY)
    assert np.array_equal(read_mask(_save(tmp_path / "c.png", sixteen)), BINARY)


def test_mask_with_two_nonzero_values_is_not_binary(tmp_path: Path) -> None:
    values = np.where(BINARY, 255, 1).astype(np.uint8)
    with pytest.raises(DataError, match="not binary"):
        read_mask(_save(tmp_path / "m.png", Image.fromarray(values)))


def test_jpeg_mask_is_refused_with_advice(tmp_path: Path) -> None:
    path = _save(tmp_path / "1_2_mask.jpg", Image.fromarray(BINARY.astype(np.uint8) * 255))
    with pytest.raises(DataError) as error:
        read_mask(path)
    message = _problem_text(error)
    assert "1_2_mask.jpg" in message
    assert "not binary" in message and "JPEG" in message and "PNG or TIFF" in message


def test_jpeg_mask_with_threshold_is_close_to_the_original(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.jpg", Image.fromarray(BINARY.astype(np.uint8) * 255), quality=75)
    mask = read_mask(path, threshold=True)
    assert mask.dtype == bool
    assert np.count_nonzero(mask != BINARY) <= 0.01 * BINARY.size


def test_corrupt_mask_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "a_mask.png"
    path.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"a_mask\.png"):
        read_mask(path)


# ---- writing ---------------------------------------------------------------------------------


def test_write_mask_png_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out" / "m.png"
    write_mask_png(path, BINARY)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "L"
        assert set(np.unique(np.asarray(image)).tolist()) == {0, 255}
    assert np.array_equal(read_mask(path), BINARY)
    assert [p.name for p in path.parent.iterdir()] == ["m.png"]  # no temporary left behind


def test_write_mask_png_accepts_zero_one_and_refuses_3d(tmp_path: Path) -> None:
    write_mask_png(tmp_path / "m.png", BINARY.astype(np.uint8))
    assert np.array_equal(read_mask(tmp_path / "m.png"), BINARY)
    with pytest.raises(ValueError):
        write_mask_png(tmp_path / "bad.png", np.zeros((2, 2, 3)))
    assert not (tmp_path / "bad.png").exists()


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from nerveseg.files import write_text

    write_text(tmp_path / "a.txt", "x")
    mode = stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_json_writes_undefined_averages_as_null(tmp_path: Path) -> None:
    import json

    from nerveseg.files import write_json

    write_json(tmp_path / "a.json", {"score": float("nan"), "rows": [1.0, float("nan")]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"score": None, "rows": [1.0, None]}


def test_a_label_painted_as_transparency_is_read_from_alpha(tmp_path: Path) -> None:
    label = np.zeros((8, 10), np.uint8)
    label[2:5, 3:7] = 255
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 3] = label  # uniform (black) colour, the label only in alpha
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    assert np.array_equal(read_mask(tmp_path / "m.png"), label > 0)
    la = np.stack([np.full((8, 10), 255, np.uint8), label], axis=-1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert np.array_equal(read_mask(tmp_path / "la.png"), label > 0)


def test_a_coloured_label_with_flat_alpha_keeps_its_colour(tmp_path: Path) -> None:
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[2:5, 3:7, :3] = 255
    rgba[..., 3] = 255  # opaque everywhere: alpha says nothing
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").sum() == 12
