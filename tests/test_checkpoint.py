"""Model files: self-describing, loaded weights-only, older versions read, bad ones named."""

from __future__ import annotations

import math

import pytest
import torch

from nerveseg.checkpoint import FORMAT, ModelInfo, load_model, save_model_file
from nerveseg.errors import NervesegError
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams

KWARGS = {"width": 0.0625}


def model_and_info(**changes) -> tuple[torch.nn.Module, ModelInfo]:
    info = ModelInfo("segnet", KWARGS, (32, 32), 0.4, 0.2, **changes)
    return build_model("segnet", **KWARGS), info


def write_payload(path, info: dict, version: int = 2) -> None:
    model = build_model("segnet", **KWARGS)
    payload = {"format": FORMAT, "format_version": version, "info": info}
    payload["state_dict"] = model.state_dict()
    torch.save(payload, path)


def test_round_trip_keeps_every_field(tmp_path):
    model, info = model_and_info(postprocess=PostprocessParams(threshold=0.3, keep_largest=True))
    save_model_file(tmp_path / "model.pt", model, info)
    loaded, back = load_model(tmp_path / "model.pt")
    assert back.postprocess == info.postprocess
    assert back.image_size == (32, 32) and math.isnan(back.score)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


def test_a_version_1_file_with_flat_post_processing_still_loads(tmp_path):
    """Model files written before the post-processing became one object (format version 1)."""
    info = {
        "model_name": "segnet",
        "model_kwargs": KWARGS,
        "image_size": [32, 32],
        "mean": 0.4,
        "std": 0.2,
        "threshold": 0.6,
        "min_area": 120,
        "epoch": 3,
        "score": 0.8,
        "config": {},
    }
    write_payload(tmp_path / "old.pt", info, version=1)
    _, back = load_model(tmp_path / "old.pt")
    assert back.postprocess == PostprocessParams(threshold=0.6, min_area=120)  # gate off
    assert back.epoch == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"postprocess": {"threshold": "high"}}, "threshold: expected a number"),
        ({"image_size": [-1, 32]}, "image_size must be at least 1"),
        ({"std": 0}, "std must be above 0"),
        ({"colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_malformed_descriptions_fail_in_one_line_naming_the_file(tmp_path, change, message):
    _, info = model_and_info()
    write_payload(tmp_path / "bad.pt", {**info.to_dict(), **change})
    with pytest.raises(NervesegError, match=message) as error:
        load_model(tmp_path / "bad.pt")
    assert str(tmp_path / "bad.pt") in str(error.value) and "\n" not in str(error.value)


def test_missing_keys_and_newer_versions_are_refused(tmp_path):
    write_payload(tmp_path / "short.pt", {"model_name": "segnet"})
    with pytest.raises(NervesegError, match="missing key"):
        load_model(tmp_path / "short.pt")
    _, info = model_and_info()
    write_payload(tmp_path / "new.pt", info.to_dict(), version=99)
    with pytest.raises(NervesegError, match="newer nerveseg"):
        load_model(tmp_path / "new.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NervesegError, match="not a readable nerveseg model file"):
        load_model(tmp_path / "junk.pt")
