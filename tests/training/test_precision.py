"""train.precision=auto: bf16 only where the CPU or card multiplies it natively."""

from __future__ import annotations

import pytest
import torch
import yaml

from nerveseg.config import load_config
from nerveseg.training import precision, train
from nerveseg.training.precision import cpu_has_native_bf16, resolve_precision
from nerveseg.training.startup import with_resolved_precision

ZEN4_FLAGS = "fpu vme avx2 avx512f avx512bw avx512_bf16 avx512_vnni"
SKYLAKE_FLAGS = "fpu vme avx2 avx512f avx512bw avx512dq"
SAPPHIRE_RAPIDS_FLAGS = "fpu avx2 avx512f amx_bf16 amx_tile"


def cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    return path


@pytest.mark.parametrize(
    ("flags", "native"),
    [(ZEN4_FLAGS, True), (SAPPHIRE_RAPIDS_FLAGS, True), (SKYLAKE_FLAGS, False), ("", False)],
    ids=["avx512_bf16", "amx_bf16", "avx512-without-bf16", "no-flags"],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, monkeypatch, flags, native):
    monkeypatch.setattr(precision.sys, "platform", "linux")
    assert cpu_has_native_bf16(cpuinfo(tmp_path, flags)) is native


def test_a_cpu_that_cannot_be_asked_counts_as_without_bf16(tmp_path, monkeypatch):
    monkeypatch.setattr(precision.sys, "platform", "linux")
    assert cpu_has_native_bf16(tmp_path / "missing") is False
    monkeypatch.setattr(precision.sys, "platform", "darwin")
    assert cpu_has_native_bf16(cpuinfo(tmp_path, ZEN4_FLAGS)) is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_a_cpu_is_bf16_only_with_native_bf16(monkeypatch, native):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    expected = "bf16-mixed" if native else "32-true"
    assert resolve_precision("auto", "auto") == expected
    assert resolve_precision("auto", "cpu") == expected


def test_auto_on_a_gpu_follows_the_card(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", "auto") == "bf16-mixed"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto", "gpu") == "16-mixed"


def test_a_named_precision_is_kept(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("32-true", "cpu") == "32-true"
    config = load_config("smoke", ["train.precision=bf16-mixed"])
    assert with_resolved_precision(config) is config


def test_the_run_records_the_precision_auto_chose(tiny_data, tmp_path, monkeypatch):
    """config.yaml holds the answer, not 'auto': a resume on this machine keeps the arithmetic."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    config = load_config(
        "smoke", ["train.epochs=1", "train.precision=auto", f"data.root={tiny_data}"]
    )
    train(config, tmp_path / "run")
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["precision"] == "32-true"
