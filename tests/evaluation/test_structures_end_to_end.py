"""fit-postprocess, evaluate, report and predict on a run whose model segments two structures.

The run is the shared smoke run with its model.pt replaced by a two-channel SegNet of the same
input size and normalisation (nerve, vessel), trained with ``data.structures={nerve: [1],
vessel: [2]}`` on the same synthetic frames drawn with their artery labelled (``synth
--vessel``): the truth of both structures is real, the network untrained.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nerveseg.checkpoint import load_model, save_model_file
from nerveseg.cli import main
from nerveseg.config import load_config
from nerveseg.data.synth import generate_dataset
from nerveseg.evaluation.scoring import structure_columns
from nerveseg.models import build_model

NAMES = ["nerve", "vessel"]


@pytest.fixture(scope="module")
def run(copy_trained_run, tmp_path_factory) -> Path:
    folder = copy_trained_run()
    data = tmp_path_factory.mktemp("vessel") / "data"
    generate_dataset(data, replace(load_config("smoke").synth, vessel=True))  # the same frames
    split = json.loads((folder / "split.json").read_text())
    (folder / "split.json").write_text(json.dumps({**split, "data": str(data)}))
    _, info = load_model(folder / "model.pt")
    kwargs = {**info.model_kwargs, "out_channels": 2, "output_prior": 0.5}
    torch.manual_seed(0)
    model = build_model(info.model_name, **kwargs)
    info.model_kwargs, info.structures = kwargs, NAMES
    info.config["data"]["structures"] = {"nerve": [1], "vessel": [2]}
    save_model_file(folder / "model.pt", model, info)
    return folder


@pytest.fixture(scope="module")
def fitted(run) -> Path:
    assert main(["fit-postprocess", str(run)]) == 0
    return run


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_fit_postprocess_fits_each_structure(fitted, capsys):
    data = json.loads((fitted / "postprocess.json").read_text())
    assert list(data["structures"]) == NAMES and list(data["fit"]) == NAMES
    for name in NAMES:
        assert [s["step"] for s in data["fit"][name]["steps"]][:2] == ["threshold", "min_area"]


def test_evaluate_scores_each_structure_and_their_mean(fitted, capsys):
    assert main(["evaluate", "--run", str(fitted)]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((fitted / "evaluation.json").read_text())
    assert saved["score"] == pytest.approx(printed["score"])
    assert set(saved["structures"]) == set(NAMES)
    parts = [saved["structures"][n]["score"] for n in NAMES]
    assert saved["score"] == pytest.approx(sum(parts) / 2)
    rows = rows_of(fitted / "per_image.csv")
    assert tuple(rows[0]) == structure_columns(NAMES)
    # Each structure's own truth: the artery's pixels are the vessel's, never the nerve's.
    for name in NAMES:
        shown = sum(int(r[f"{name}_truth_pixels"]) > 0 for r in rows)
        assert saved["structures"][name]["nerve_images"] == shown > 0, name
    assert any(int(r["vessel_truth_pixels"]) != int(r["nerve_truth_pixels"]) for r in rows)
    dice = [float(r["nerve_dice"]) for r in rows]
    assert saved["structures"]["nerve"]["score"] == pytest.approx(sum(dice) / len(dice), abs=1e-6)


def test_report_has_a_table_row_and_sections_per_structure(fitted):
    assert main(["report", str(fitted)]) == 0
    page = fitted / "report" / "report.html"
    html = page.read_text()
    for table in ("metrics", "postprocess", "fit-steps-nerve", "fit-steps-vessel"):
        assert re.search(rf"<table id='{table}'", html), table
    assert "mean over structures" in html
    for name in NAMES:
        assert f"dice_histogram_{name}.png" in html and f"reliability_{name}.png" in html
    for ref in re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html):
        assert (page.parent / ref).is_file(), ref
    assert tuple(rows_of(page.parent / "per_image.csv")[0]) == structure_columns(NAMES)


def test_predict_from_the_run_uses_each_structures_fitted_values(fitted, tiny_data, tmp_path):
    out = tmp_path / "pred"
    assert (
        main(
            ["predict", "--run", str(fitted), "--input", str(tiny_data / "test"), "--out", str(out)]
        )
        == 0
    )
    assert (out / "submission.csv").read_text().startswith("img,pixels\n")
    assert list(rows_of(out / "masks.csv")[0]) == ["name", "nerve_pixels", "vessel_pixels"]
