"""Discovery: every layout, the subject rule, ordering, and every structural problem by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.data.folders import natural_key
from nerveseg.data.samples import Sample, discover_labelled, discover_unlabelled, subject_of
from nerveseg.errors import DataError

SCAN = np.full((48, 64), 90, np.uint8)
MASK = np.zeros((48, 64), np.uint8)
MASK[10:20, 10:30] = 255


def _write(path: Path, pixels: np.ndarray = SCAN) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _pairs(folder: Path, names: list[str], image_ext: str = ".tif", mask_ext: str = ".tif"):
    for name in names:
        _write(folder / f"{name}{image_ext}")
        _write(folder / f"{name}_mask{mask_ext}", MASK)


def _csv(path: Path, names: list[str], rle: str = "") -> Path:
    rows = ["subject,img,pixels"]
    rows += [f"{name.split('_')[0]},{name.split('_')[1]},{rle}" for name in names]
    path.write_text("\n".join(rows) + "\n")
    return path


def _reasons(error: pytest.ExceptionInfo[DataError]) -> list[str]:
    return [str(problem) for problem in error.value.problems]


# ---- subject rule and ordering ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("5_36", "5"),
        ("12", "12"),
        ("pat_3_017", "pat_3"),
        ("scan_a", "scan_a"),
        ("scan", "scan"),
        ("_5", "_5"),
        ("a_", "a_"),
        ("case07_frame_0003", "case07_frame"),
    ],
)
def test_subject_rule(name: str, subject: str) -> None:
    assert subject_of(name) == subject


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["10_1", "2_10", "2_9", "img10", "img2", "1"]
    assert sorted(names, key=natural_key) == ["1", "2_9", "2_10", "10_1", "img2", "img10"]


# ---- labelled layouts ------------------------------------------------------------------------


def test_kaggle_root_with_masks_and_csv(tmp_path: Path) -> None:
    names = ["10_1", "2_10", "2_9"]
    _pairs(tmp_path / "train", names)
    _csv(tmp_path / "train_masks.csv", names, rle="1 5")
    _write(tmp_path / "test" / "1.tif")  # a Kaggle root also holds test/: ignored here
    samples = discover_labelled(tmp_path)
    assert [s.name for s in samples] == ["2_9", "2_10", "10_1"]
    assert [s.subject for s in samples] == ["2", "2", "10"]
    first = samples[0]
    assert first.image_path == tmp_path / "train" / "2_9.tif"
    assert first.mask_path == tmp_path / "train" / "2_9_mask.tif"
    assert first.mask_rle == "1 5" and first.labelled


def test_train_folder_directly_finds_the_csv_above(tmp_path: Path) -> None:
    _pairs(tmp_path / "train", ["1_1", "1_2"])
    _csv(tmp_path / "train_masks.csv", ["1_1", "1_2"])
    samples = discover_labelled(tmp_path / "train")
    assert [s.name for s in samples] == ["1_1", "1_2"]
    assert all(s.mask_rle == "" and s.mask_path is not None for s in samples)


def test_kaggle_root_without_csv_uses_mask_files(tmp_path: Path) -> None:
    _pairs(tmp_path / "train", ["1_1"])
    (sample,) = discover_labelled(tmp_path)
    assert sample.mask_rle is None and sample.mask_path is not None


def test_csv_only_masks(tmp_path: Path) -> None:
    for name in ["3_1", "3_2"]:
        _write(tmp_path / "train" / f"{name}.tif")
    _csv(tmp_path / "train_masks.csv", ["3_1", "3_2"], rle="7 3")
    samples = discover_labelled(tmp_path)
    assert [(s.name, s.mask_path, s.mask_rle) for s in samples] == [
        ("3_1", None, "7 3"),
        ("3_2", None, "7 3"),
    ]
    assert all(s.labelled for s in samples)


def test_empty_csv_mask_counts_as_labelled() -> None:
    assert Sample("1_1", "1", Path("x.tif"), mask_rle="").labelled
    assert not Sample("1", "1", Path("x.tif")).labelled


def test_plain_pairs_with_mixed_endings(tmp_path: Path) -> None:
    _pairs(tmp_path, ["img10", "img2"], image_ext=".png", mask_ext=".png")
    _pairs(tmp_path, ["scan"], image_ext=".jpg", mask_ext=".png")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "._img2.png").write_bytes(b"macOS clutter, ignored")
    samples = discover_labelled(tmp_path)
    assert [s.name for s in samples] == ["img2", "img10", "scan"]
    assert samples[2].image_path.suffix == ".jpg" and samples[2].mask_path.suffix == ".png"
    assert samples[0].subject == "img2"


def test_images_and_masks_folders(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "p1_2.png")
    _write(tmp_path / "images" / "p1_10.png")
    _write(tmp_path / "masks" / "p1_2.png", MASK)  # mask named like its image
    _write(tmp_path / "masks" / "p1_10_mask.png", MASK)  # or with _mask
    samples = discover_labelled(tmp_path)
    assert [(s.name, s.subject, s.mask_path.name) for s in samples] == [
        ("p1_2", "p1", "p1_2.png"),
        ("p1_10", "p1", "p1_10_mask.png"),
    ]


# ---- structural problems ---------------------------------------------------------------------


def test_image_without_mask_and_mask_without_image(tmp_path: Path) -> None:
    _pairs(tmp_path, ["a"], ".png", ".png")
    _write(tmp_path / "lonely.png")
    _write(tmp_path / "ghost_mask.png", MASK)
    with pytest.raises(DataError) as error:
        discover_labelled(tmp_path)
    reasons = _reasons(error)
    assert len(reasons) == 2
    assert reasons[0].startswith(f"{tmp_path / 'lonely.png'}: image without mask")
    assert reasons[1].startswith(f"{tmp_path / 'ghost_mask.png'}: mask without image")
    assert "skip_bad" in str(error.value)  # the hint says how to go on


def test_skip_bad_keeps_the_good_and_warns_once(tmp_path: Path) -> None:
    _pairs(tmp_path, ["a", "b"], ".png", ".png")
    _write(tmp_path / "lonely.png")
    _write(tmp_path / "ghost_mask.png", MASK)
    with pytest.warns(UserWarning, match="2 problem") as caught:
        samples = discover_labelled(tmp_path, skip_bad=True)
    assert len(caught) == 1
    assert "lonely.png" in str(caught[0].message)
    assert [s.name for s in samples] == ["a", "b"]


def test_duplicate_names_are_all_listed(tmp_path: Path) -> None:
    _pairs(tmp_path, ["a", "b", "c"], ".png", ".png")
    _write(tmp_path / "a.tif")
    _write(tmp_path / "b_mask.tif", MASK)
    with pytest.raises(DataError) as error:
        discover_labelled(tmp_path)
    text = "\n".join(_reasons(error))
    for name in ["a.png", "a.tif", "b_mask.png", "b_mask.tif"]:
        assert f"{tmp_path / name}: " in text
    with pytest.warns(UserWarning):
        assert [s.name for s in discover_labelled(tmp_path, skip_bad=True)] == ["c"]


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no images found"):
        discover_labelled(tmp_path)
    with pytest.raises(DataError, match="no images found"):
        discover_labelled(tmp_path, skip_bad=True)


def test_empty_train_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="train: no images found"):
        discover_labelled(tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope: data folder does not exist"):
        discover_labelled(tmp_path / "nope")
    with pytest.raises(DataError, match="does not exist"):
        discover_unlabelled(tmp_path / "nope")


def test_file_instead_of_folder(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.png")
    with pytest.raises(DataError, match="is a file, not a folder"):
        discover_labelled(path)


def test_images_without_any_mask(tmp_path: Path) -> None:
    _write(tmp_path / "a.png")
    _write(tmp_path / "b.png")
    with pytest.raises(DataError) as error:
        discover_labelled(tmp_path, skip_bad=True)
    assert len(error.value.problems) == 1
    assert "2 images but no masks" in str(error.value)


@pytest.mark.parametrize(
    "extra",
    [
        ["train/1_1.tif", "train/1_1_mask.tif"],  # Kaggle train/ beside loose images
        ["images/a.png", "masks/a.png"],  # images/ + masks/ beside loose images
    ],
)
def test_mixed_layouts_are_refused(tmp_path: Path, extra: list[str]) -> None:
    _pairs(tmp_path, ["x"], ".png", ".png")
    for relative in extra:
        _write(tmp_path / relative)
    with pytest.raises(DataError, match="mixes layouts") as error:
        discover_labelled(tmp_path, skip_bad=True)
    assert error.value.problems[0].path == tmp_path


def test_train_beside_images_folders_is_mixed(tmp_path: Path) -> None:
    _pairs(tmp_path / "train", ["1_1"])
    _write(tmp_path / "images" / "a.png")
    _write(tmp_path / "masks" / "a.png", MASK)
    with pytest.raises(DataError, match="mixes layouts"):
        discover_labelled(tmp_path)


def test_images_folder_without_masks_folder(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png")
    with pytest.raises(DataError, match="masks folder does not exist"):
        discover_labelled(tmp_path)


def test_mask_named_file_in_images_folder(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png")
    _write(tmp_path / "images" / "b_mask.png", MASK)
    _write(tmp_path / "masks" / "a.png", MASK)
    with pytest.raises(DataError, match=r"b_mask\.png: is named like a mask"):
        discover_labelled(tmp_path)


def test_csv_row_for_missing_image(tmp_path: Path) -> None:
    _pairs(tmp_path / "train", ["1_1"])
    csv_path = _csv(tmp_path / "train_masks.csv", ["1_1", "1_2", "4_4"])
    with pytest.raises(DataError) as error:
        discover_labelled(tmp_path)
    assert _reasons(error) == [
        f"{csv_path}: line 3: row for image 1_2, but train/ has no 1_2.tif",
        f"{csv_path}: line 4: row for image 4_4, but train/ has no 4_4.tif",
    ]
    with pytest.warns(UserWarning, match="line 3"):
        assert [s.name for s in discover_labelled(tmp_path, skip_bad=True)] == ["1_1"]


def test_image_without_mask_or_csv_row(tmp_path: Path) -> None:
    _write(tmp_path / "train" / "1_1.tif")
    _write(tmp_path / "train" / "1_2.tif")
    _csv(tmp_path / "train_masks.csv", ["1_1"])
    with pytest.raises(DataError, match=r"1_2.tif: image without mask.*train_masks.csv"):
        discover_labelled(tmp_path)


def test_bad_csv_rows_drop_their_samples_with_skip_bad(tmp_path: Path) -> None:
    _pairs(tmp_path / "train", ["1_1", "1_2", "1_3"])
    path = tmp_path / "train_masks.csv"
    path.write_text("subject,img,pixels\n1,1,\n1,2,1 x\n1,3,\n1,3,\n")
    with pytest.raises(DataError) as error:
        discover_labelled(tmp_path)
    reasons = _reasons(error)
    assert reasons[0].startswith(f"{path}: line 3: RLE token 'x'")
    assert reasons[1].startswith(f"{path}: line 5: duplicate row for image 1_3")
    with pytest.warns(UserWarning):
        assert [s.name for s in discover_labelled(tmp_path, skip_bad=True)] == ["1_1"]


def test_bad_csv_header_is_fatal_even_with_skip_bad(tmp_path: Path) -> None:
    _pairs(tmp_path / "train", ["1_1"])
    (tmp_path / "train_masks.csv").write_text("img,pixels\n1,\n")
    with pytest.raises(DataError, match="line 1: header"):
        discover_labelled(tmp_path, skip_bad=True)


# ---- unlabelled ------------------------------------------------------------------------------


def test_kaggle_test_folder_sorted_by_integer_id(tmp_path: Path) -> None:
    for name in ["10", "2", "1", "100"]:
        _write(tmp_path / "test" / f"{name}.tif")
    expected = ["1", "2", "10", "100"]
    assert [s.name for s in discover_unlabelled(tmp_path / "test")] == expected
    samples = discover_unlabelled(tmp_path)  # a Kaggle root holding test/
    assert [s.name for s in samples] == expected
    assert all(not s.labelled and s.subject == s.name for s in samples)


def test_unlabelled_folder_ignores_masks(tmp_path: Path) -> None:
    _pairs(tmp_path, ["b", "a"], ".png", ".png")
    samples = discover_unlabelled(tmp_path)
    assert [(s.name, s.image_path.name) for s in samples] == [("a", "a.png"), ("b", "b.png")]


def test_unlabelled_problems(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no images found"):
        discover_unlabelled(tmp_path)
    _write(tmp_path / "only_mask.png", MASK)
    with pytest.raises(DataError, match="no images found"):
        discover_unlabelled(tmp_path)
    _write(tmp_path / "a.png")
    _write(tmp_path / "a.jpg")
    with pytest.raises(DataError, match=r"a\.jpg: image name 'a' is also used by a\.png"):
        discover_unlabelled(tmp_path)


def test_unlabelled_images_beside_test_folder_is_ambiguous(tmp_path: Path) -> None:
    _write(tmp_path / "a.png")
    _write(tmp_path / "test" / "1.tif")
    with pytest.raises(DataError, match="holds images and a test/ folder"):
        discover_unlabelled(tmp_path)


def test_split_layout_messages_name_the_other_folder(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png")
    _write(tmp_path / "masks" / "b.png", MASK)
    with pytest.raises(DataError) as error:
        discover_labelled(tmp_path)
    reasons = _reasons(error)
    assert "expected masks/a.png or masks/a_mask.png" in reasons[0]
    assert "mask without image: no images/b.png" in reasons[1]


def test_hidden_files_are_left_out_with_a_warning(tmp_path: Path, caplog) -> None:
    for name in ("1.png", "._1.png", ".2.png"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / name)
    with caplog.at_level("WARNING", logger="nerveseg"):
        samples = discover_unlabelled(tmp_path)
    assert [s.name for s in samples] == ["1"]
    assert "left out 2 hidden file(s) (.2.png, ._1.png)" in caplog.text
