"""End to end: an Attention SegNet with a presence head through train, evaluate and predict."""

from __future__ import annotations

import csv
import json

import torch

from nerveseg.checkpoint import load_model
from nerveseg.cli import main


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_presence_head_flows_through_train_evaluate_and_predict(tiny_data, tmp_path):
    run = tmp_path / "run"
    settings = ["model.name=attention_segnet", "model.presence_head=true", "train.epochs=1"]
    argv = ["train", "--data", str(tiny_data), "--run", str(run), "--preset", "smoke"]
    assert main([*argv, *(a for s in settings for a in ("--set", s))]) == 0

    rows = read_csv(run / "metrics.csv")
    assert 0.0 <= float(rows[-1]["val/presence_accuracy"]) <= 1.0
    model, info = load_model(run / "model.pt")
    assert info.model_kwargs == {"width": 0.0625, "presence_head": True}
    assert info.postprocess.presence_threshold == 0.5
    with torch.no_grad():
        mask_logits, presence_logits = model(torch.zeros(2, 1, 64, 96))
    assert mask_logits.shape == (2, 1, 64, 96) and presence_logits.shape == (2,)

    assert main(["evaluate", "--run", str(run)]) == 0
    assert 0.0 <= json.loads((run / "evaluation.json").read_text())["score"] <= 1.0
    test_frames = ["--input", str(tiny_data / "test")]
    assert main(["predict", "--run", str(run), *test_frames, "--out", str(tmp_path / "p")]) == 0

    # The gate at prediction: a model that marks every pixel as nerve, with its presence head
    # forced to "no nerve" (then "nerve"), predicts only empty (then only full) masks.
    payload = torch.load(run / "model.pt", weights_only=True)
    state = payload["state_dict"]
    state["segmenter.classifier.weight"].zero_()
    state["segmenter.classifier.bias"].fill_(20.0)
    state["presence.mlp.2.weight"].zero_()
    for presence_logit, expect_nerve in ((-20.0, False), (20.0, True)):
        state["presence.mlp.2.bias"].fill_(presence_logit)
        forced = tmp_path / f"forced{presence_logit}.pt"
        torch.save(payload, forced)
        out = tmp_path / f"pred{presence_logit}"
        assert main(["predict", "--model", str(forced), *test_frames, "--out", str(out)]) == 0
        encoded = [r["pixels"] for r in read_csv(out / "submission.csv")]
        assert encoded and all(bool(e) == expect_nerve for e in encoded)


def test_encoder_weights_for_a_slim_model_is_one_clear_message(tiny_data, tmp_path, capsys):
    argv = ["train", "--data", str(tiny_data), "--run", str(tmp_path / "run"), "--preset", "smoke"]
    assert main([*argv, "--set", f"model.encoder_weights={tmp_path / 'vgg16_bn.pth'}"]) == 2
    err = capsys.readouterr().err
    assert "nerveseg: error: model.encoder_weights" in err and "model.width=1" in err
