"""Post-processing per structure: each channel with its own parameters, and postprocess.json
in both layouts (one structure keeps today's file byte for byte)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nerveseg.errors import NervesegError
from nerveseg.postprocess import PostprocessParams, apply_postprocess, save_postprocess
from nerveseg.structure_postprocess import (
    StructurePostprocess,
    apply_structures,
    load_structure_postprocess,
    save_structure_postprocess,
)

NAMES = ["nerve", "vessel"]


def maps() -> np.ndarray:
    """``(2, 40, 60)``: a 0.6 nerve box of 150 px and two 0.4 vessel boxes of 100 and 9 px."""
    probabilities = np.zeros((2, 40, 60), dtype=np.float32)
    probabilities[0, 10:20, 15:30] = 0.6
    probabilities[1, 5:15, 40:50] = 0.4
    probabilities[1, 30:33, 5:8] = 0.4
    return probabilities


def test_each_structure_gets_its_own_parameters():
    nerve = PostprocessParams(threshold=0.5, min_area=100)
    vessel = PostprocessParams(threshold=0.3, keep_largest=True)
    params = StructurePostprocess.of({"nerve": nerve, "vessel": vessel})
    masks = apply_structures(maps(), params)
    assert masks.shape == (2, 40, 60) and masks.dtype == bool
    assert masks[0].sum() == 150 and masks[1].sum() == 100  # the 9 px vessel blob is dropped
    # The nerve's threshold would have emptied the vessel channel: each channel its own.
    assert not apply_postprocess(maps()[1], nerve).any()
    np.testing.assert_array_equal(masks[1], apply_postprocess(maps()[1], vessel))


def test_one_structure_is_exactly_apply_postprocess():
    params = PostprocessParams(threshold=0.5, min_area=100)
    single = StructurePostprocess.uniform(params, ["nerve"])
    got = apply_structures(maps()[:1], single)
    np.testing.assert_array_equal(got[0], apply_postprocess(maps()[0], params))


def test_the_presence_gate_acts_per_structure():
    gate = PostprocessParams(threshold=0.3, presence_threshold=0.5)
    params = StructurePostprocess.uniform(gate, NAMES)
    masks = apply_structures(maps(), params, presence=np.array([0.9, 0.2]))
    assert masks[0].any() and not masks[1].any()
    with pytest.raises(NervesegError, match="no presence"):
        apply_structures(maps(), params)


def test_access_replace_and_describe():
    params = StructurePostprocess.uniform(PostprocessParams(), NAMES)
    changed = params.replace("vessel", PostprocessParams(threshold=0.3))
    assert changed["vessel"].threshold == 0.3 and changed["nerve"] == params["nerve"]
    assert changed.first is params.first and len(changed) == 2
    assert [name for name, _ in changed.items()] == NAMES
    assert (
        changed.describe()
        == "nerve (threshold 0.5, min_area 0); vessel (threshold 0.3, min_area 0)"
    )
    assert StructurePostprocess.uniform(PostprocessParams(), ["nerve"]).describe() == (
        PostprocessParams().describe()
    )
    with pytest.raises(KeyError):
        params["artery"]
    with pytest.raises(ValueError, match="one PostprocessParams per structure"):
        StructurePostprocess(("nerve",), ())


def test_one_structure_writes_todays_file_byte_for_byte(tmp_path):
    params = PostprocessParams(threshold=0.4, min_area=900, keep_largest=True)
    fit = {"steps": [], "score": 0.7}
    save_postprocess(tmp_path / "old.json", params, fit)
    one = StructurePostprocess.uniform(params, ["vessel"])  # whatever the one structure is called
    save_structure_postprocess(tmp_path / "new.json", one, {"vessel": fit})
    assert (tmp_path / "new.json").read_bytes() == (tmp_path / "old.json").read_bytes()
    assert load_structure_postprocess(tmp_path / "new.json", ["vessel"]) == one


def test_several_structures_round_trip_and_name_their_structures(tmp_path):
    params = StructurePostprocess.of(
        {"nerve": PostprocessParams(min_area=900), "vessel": PostprocessParams(threshold=0.3)}
    )
    path = tmp_path / "postprocess.json"
    save_structure_postprocess(path, params, {"nerve": {"steps": []}, "vessel": {"steps": [1]}})
    data = json.loads(path.read_text())
    assert list(data) == ["structures", "fit"] and list(data["structures"]) == NAMES
    assert data["fit"]["vessel"] == {"steps": [1]}
    assert load_structure_postprocess(path, NAMES) == params
    # The model's order wins over the file's.
    reordered = load_structure_postprocess(path, ["vessel", "nerve"])
    assert reordered.names == ("vessel", "nerve") and reordered["vessel"].threshold == 0.3


def test_a_one_structure_file_applies_to_every_structure(tmp_path):
    save_postprocess(tmp_path / "p.json", PostprocessParams(threshold=0.6), {})
    loaded = load_structure_postprocess(tmp_path / "p.json", NAMES)
    assert loaded == StructurePostprocess.uniform(PostprocessParams(threshold=0.6), NAMES)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"structures": {"nerve": {}}}, "post-processing for nerve but the model segments"),
        ({"structures": {"nerve": {}, "artery": {}}}, "refit it"),
        ({"structures": {"nerve": {}, "vessel": {"treshold": 1}}}, "vessel.*unknown key"),
        ({"fit": {}}, "no 'params' or 'structures'"),
        ([1, 2], "no 'params' or 'structures'"),
    ],
)
def test_a_bad_file_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "postprocess.json"
    path.write_text(json.dumps(content))
    with pytest.raises(NervesegError, match=message):
        load_structure_postprocess(path, NAMES)


def test_an_unreadable_file_is_named(tmp_path):
    path = tmp_path / "postprocess.json"
    path.write_text("{not json")
    with pytest.raises(NervesegError, match=r"not a readable postprocess\.json"):
        load_structure_postprocess(path, NAMES)
