"""Mask files of every format mapped to packed structures: binary, grey, palette, colour, LabelMe."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.config import load_config
from nerveseg.data.cache import cache_key, load_set_cached
from nerveseg.data.labels import labels_of, read_labels
from nerveseg.data.loading import load_set
from nerveseg.data.rle import rle_encode
from nerveseg.data.samples import Sample, discover_labelled
from nerveseg.data.structures import DEFAULT_LABELS, label_map
from nerveseg.errors import ConfigError, DataError

TWO = label_map({"nerve": [1], "vessel": [2]})
# A 4x6 label image: 1 = nerve (left block), 2 = vessel (right block), 0 elsewhere.
VALUES = np.array(
    [[0, 1, 1, 0, 2, 2], [0, 1, 1, 0, 2, 2], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], np.uint8
)
EXPECTED = VALUES.copy()  # nerve = bit 0 = 1, vessel = bit 1 = 2: the packed mask is the same


def _save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _palette(values: np.ndarray) -> Image.Image:
    """A mode P image whose palette colours differ from the indices (index 1 is red ...)."""
    image = Image.fromarray(values, mode="P")
    image.putpalette([0, 0, 0, 200, 0, 0, 0, 0, 200] + [0] * (256 * 3 - 9))
    return image


def _labelme(path: Path, shapes: list[dict], height: int = 4, width: int = 6) -> Path:
    document = {"version": "5.2.1", "shapes": shapes, "imageHeight": height, "imageWidth": width}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def _shape(label: str, points: list, kind: str = "polygon") -> dict:
    return {"label": label, "points": points, "shape_type": kind, "group_id": None, "flags": {}}


# ---- image masks -------------------------------------------------------------------------------


def test_binary_mask_is_todays_path(tmp_path):
    path = _save(tmp_path / "a.png", Image.fromarray((VALUES > 0).astype(np.uint8) * 255))
    packed = read_labels(path)
    assert packed.dtype == np.uint8 and packed.tolist() == (VALUES > 0).astype(int).tolist()
    with pytest.raises(DataError, match=r"not binary .*data.structures"):
        read_labels(_save(tmp_path / "b.png", Image.fromarray(VALUES)))


def test_grey_values_map_to_their_structures(tmp_path):
    path = _save(tmp_path / "a.png", Image.fromarray(VALUES * 100))  # 100 = nerve, 200 = vessel
    labels = label_map({"nerve": [100], "vessel": [200]})
    assert read_labels(path, labels).tolist() == EXPECTED.tolist()


def test_palette_mask_is_read_by_index_not_colour(tmp_path):
    path = _save(tmp_path / "a.png", _palette(VALUES))
    assert Image.open(path).mode == "P"
    assert read_labels(path, TWO).tolist() == EXPECTED.tolist()


def test_palette_mask_by_colour_when_the_structures_name_colours(tmp_path):
    path = _save(tmp_path / "a.png", _palette(VALUES))
    labels = label_map({"nerve": [[200, 0, 0]], "vessel": [[0, 0, 200]]})
    assert read_labels(path, labels).tolist() == EXPECTED.tolist()


def test_rgb_colour_mask(tmp_path):
    colours = np.array([[0, 0, 0], [255, 255, 0], [0, 128, 255]], np.uint8)[VALUES]
    path = _save(tmp_path / "a.png", Image.fromarray(colours))
    labels = label_map({"nerve": [[255, 255, 0]], "vessel": [[0, 128, 255]]})
    assert read_labels(path, labels).tolist() == EXPECTED.tolist()
    with pytest.raises(DataError, match=r"a\.png: is a colour mask .*\[0, 128, 255\]"):
        read_labels(path, TWO)  # integers cannot describe a colour mask


def test_structures_may_overlap_and_structure_order_is_bit_order(tmp_path):
    path = _save(tmp_path / "a.png", Image.fromarray(VALUES))
    labels = label_map({"vessel": [2], "anything": []})  # [] = any non-zero value
    packed = read_labels(path, labels)
    assert packed[0, 4] == 0b11 and packed[0, 1] == 0b10 and packed[3, 0] == 0


def test_unknown_value_is_refused_naming_file_values_and_fixes(tmp_path):
    values = VALUES.copy()
    values[3, 5] = 7
    path = _save(tmp_path / "a.png", _palette(values))
    with pytest.raises(DataError) as error:
        read_labels(path, TWO)
    (problem,) = error.value.problems
    assert problem.path == path
    assert "mask value(s) 7 mean no structure" in problem.reason
    assert "holds 0, 1, 2, 7" in problem.reason
    assert "data.structures" in problem.reason and "data.ignore_values" in problem.reason


def test_ignored_values_are_background(tmp_path):
    values = VALUES.copy()
    values[3, :] = 7  # say, a ruler the annotator painted
    path = _save(tmp_path / "a.png", Image.fromarray(values))
    assert read_labels(path, label_map(TWO.structures, [7])).tolist() == EXPECTED.tolist()
    anything = label_map({"nerve": []}, [7])  # also beats "any non-zero value"
    assert read_labels(path, anything).tolist() == (VALUES > 0).astype(int).tolist()
    colours = np.where(values[..., None] == 7, [9, 9, 9], [0, 0, 0]).astype(np.uint8)
    colours[0, 1] = [255, 0, 0]
    path = _save(tmp_path / "c.png", Image.fromarray(colours))
    packed = read_labels(path, label_map({"nerve": [[255, 0, 0]]}, [[9, 9, 9]]))
    assert packed.sum() == 1 and packed[0, 1] == 1


def test_config_checks_ignore_values():
    config = load_config(None, ["data.structures={nerve: [1]}", "data.ignore_values=[7]"])
    assert labels_of(config.data).ignore == (7,)
    with pytest.raises(ConfigError, match="also means structure nerve"):
        load_config(None, ["data.structures={nerve: [1]}", "data.ignore_values=[1]"])
    with pytest.raises(ConfigError, match="mix integers and"):
        load_config(None, ["data.structures={nerve: [1], vessel: [[0, 0, 255]]}"])
    with pytest.raises(ConfigError, match="not a mask value"):
        load_config(None, ["data.ignore_values=[300]"])


# ---- LabelMe ------------------------------------------------------------------------------------


def test_labelme_polygon_rectangle_and_circle_are_drawn(tmp_path, caplog):
    path = _labelme(
        tmp_path / "a.json",
        [
            _shape("nerve", [[1, 0], [2, 0], [2, 1], [1, 1]]),
            _shape("vessel", [[4, 0], [5, 1]], "rectangle"),
            _shape("vessel", [[4, 3], [5, 3]], "circle"),  # radius 1: a plus, as LabelMe draws
            _shape("nerve", [[0, 3], [5, 3]], "linestrip"),
        ],
    )
    with caplog.at_level(logging.WARNING):
        packed = read_labels(path, TWO_BY_NAME)
    expected = EXPECTED.copy()
    expected[2, 4] = 2
    expected[3, 3:6] = 2
    assert packed.tolist() == expected.tolist()
    assert "linestrip shapes label no area" in caplog.text


TWO_BY_NAME = label_map({"nerve": [1], "vessel": [2]})  # no text: labels equal to the names


def test_labelme_labels_listed_in_values_and_unknown_labels(tmp_path):
    path = _labelme(
        tmp_path / "a.json",
        [_shape("plexus", [[1, 0], [2, 0], [2, 1], [1, 1]]), _shape("ruler", [[0, 3], [5, 3]])],
    )
    labels = label_map({"nerve": ["plexus", "trunk"], "vessel": ["artery"]}, ["ruler"])
    assert read_labels(path, labels)[0:2, 1:3].tolist() == [[1, 1], [1, 1]]
    with pytest.raises(DataError) as error:
        read_labels(path, label_map({"nerve": ["trunk"]}))
    reason = error.value.problems[0].reason
    assert error.value.problems[0].path == path
    assert "LabelMe label(s) 'plexus', 'ruler' mean no structure" in reason


@pytest.mark.parametrize(
    "document,message",
    [
        ("{not json", "not a readable LabelMe JSON"),
        ('{"shapes": []}', "without a valid imageHeight"),
        ('{"shapes": [{"label": "nerve", "points": "x"}], "imageHeight": 4, "imageWidth": 6}',
         "shape 1 .*'points' must be"),
        ('{"shapes": [{"points": [[0, 0]]}], "imageHeight": 4, "imageWidth": 6}',
         "shape 1 has no text 'label'"),
    ],
)  # fmt: skip
def test_bad_labelme_files_are_one_clear_problem(tmp_path, document, message):
    path = tmp_path / "a.json"
    path.write_text(document)
    with pytest.raises(DataError, match=message):
        read_labels(path, TWO)


def test_labelme_json_is_found_beside_the_image_and_in_masks(tmp_path):
    pairs, split = tmp_path / "pairs", tmp_path / "split"
    for folder in (pairs, split / "images"):
        _save(folder / "0001.png", Image.fromarray(np.zeros((4, 6), np.uint8)))
    square = [_shape("nerve", [[1, 0], [2, 0], [2, 1], [1, 1]])]
    _labelme(pairs / "0001.json", square)
    (pairs / "dataset_info.json").write_text("{}")  # not named like a frame: left alone
    _labelme(split / "masks" / "0001.json", square)
    for root in (pairs, split):
        (sample,) = discover_labelled(root)
        assert sample.mask_path.suffix == ".json"
        loaded = load_set([sample], None, labels=TWO_BY_NAME)
        assert loaded.masks[0][0:2, 1:3].tolist() == [[1, 1], [1, 1]]


# ---- loading, the CSV and the cache ---------------------------------------------------------------


def _two_structure_set(folder: Path) -> list[Sample]:
    for i in range(1, 4):
        _save(folder / f"s_{i}.png", Image.fromarray(np.full((4, 6), 40 * i, np.uint8)))
        _save(folder / f"s_{i}_mask.png", _palette(VALUES))
    return discover_labelled(folder)


def test_loading_keeps_every_structure_bit_through_resizing(tmp_path):
    loaded = load_set(_two_structure_set(tmp_path), (8, 12), labels=TWO)
    assert loaded.masks.dtype == np.uint8 and set(np.unique(loaded.masks)) == {0, 1, 2}
    assert (loaded.masks[0] == 2).sum() == 16 and (loaded.masks[0] == 1).sum() == 16


def test_cache_never_serves_another_structure_setting(tmp_path):
    samples = _two_structure_set(tmp_path / "data")
    one = cache_key(samples, (8, 12), skip_bad=False, threshold_masks=False)
    two = cache_key(samples, (8, 12), skip_bad=False, threshold_masks=False, labels=TWO)
    swapped = label_map({"vessel": [2], "nerve": [1]})
    three = cache_key(samples, (8, 12), skip_bad=False, threshold_masks=False, labels=swapped)
    box = cache_key(
        samples, (8, 12), skip_bad=False, threshold_masks=False, labels=TWO, resize="letterbox"
    )
    assert len({one, two, three, box}) == 4
    first = load_set_cached(samples, (8, 12), cache_dir=tmp_path / "cache", labels=TWO)
    again = load_set_cached(samples, (8, 12), cache_dir=tmp_path / "cache", labels=TWO)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert np.array_equal(first.masks, again.masks) and set(np.unique(again.masks)) == {0, 1, 2}


def test_the_csv_holds_the_first_structure(tmp_path):
    image = _save(tmp_path / "1_1.png", Image.fromarray(np.zeros((4, 6), np.uint8)))
    mask = _save(tmp_path / "1_1_mask.png", _palette(VALUES))
    agreeing = Sample("1_1", "1", image, mask, rle_encode(VALUES == 1))
    assert load_set([agreeing], None, labels=TWO).masks[0].tolist() == EXPECTED.tolist()
    disagreeing = Sample("1_1", "1", image, mask, rle_encode(VALUES > 0))
    with pytest.raises(DataError, match="holds the first structure, nerve"):
        load_set([disagreeing], None, labels=TWO)
    csv_only = Sample("1_1", "1", image, None, rle_encode(VALUES == 1))
    with pytest.raises(DataError, match="give it a mask file holding every structure"):
        load_set([csv_only], None, labels=TWO)
    assert load_set([csv_only], None, labels=DEFAULT_LABELS).masks[0].sum() == 4
