"""Property-style: many random ``--set`` overrides, and not one traceback.

Each case runs ``nerveseg train --set KEY=VALUE`` with a data folder that does not exist, so an
accepted setting goes on through every check that runs before data is read (model, input size,
devices, precision, the Lightning Trainer) and stops at the missing folder. Whatever the value,
the outcome is exit 2 and one error line, and the run folder is never created.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from nerveseg.cli import main
from nerveseg.config import RunConfig

VALUES = [
    "-1", "0", "1", "2", "3", "7", "100", "1e9", "-1e-9", "0.5", "1.5", "-0.5", "2.5",
    "nan", ".nan", ".inf", "-.inf", "abc", "''", "null", "true", "false", "[]", "[0]", "[1, 2]",
    "[0, 0]", "[64, 96]", "[100, 100]", "[-64, 96]", "[64, 96, 3]", "{}", "{a: 1}", "segnet",
    "unet", "cpu", "gpu", "ddp", "16-mixed", "bf16-mixed", "cosine", "none", "x" * 300,
    "[float, 1]", "[log_float, 0, 1]", "[int, 5, 1]", "[categorical]",
]  # fmt: skip


def _dotted_settings(config: object, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            keys += _dotted_settings(value, f"{prefix}{field.name}.")
        else:
            keys.append(f"{prefix}{field.name}")
    return keys


KEYS = [*_dotted_settings(RunConfig()), "tune.space.optim.lr", "train.nokey", "nosection.x"]


def _cases(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    cases = [f"{key}={rng.choice(VALUES)}" for key in KEYS]  # every key at least once
    cases += [f"{rng.choice(KEYS)}={rng.choice(VALUES)}" for _ in range(count - len(cases))]
    return cases


@pytest.mark.parametrize("override", _cases(800))
def test_no_override_gives_a_traceback(override, tmp_path, capsys):
    argv = ["train", "--preset", "smoke", "--data", str(tmp_path / "missing"), "--run",
            str(tmp_path / "run"), "--set", "train.progress_bar=false", "--set", override]  # fmt: skip
    status = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if " error: " in line]
    assert status == 2 and "Traceback" not in err, err[-2000:]
    assert len(errors) == 1, err
    assert not (tmp_path / "run").exists()
