"""A study's reports, rewritten after every trial: ``trials.csv``, ``best.yaml`` and two figures.

``best.yaml`` is the best trial's full config, loadable as ``--preset STUDY/best.yaml``.
``history.png`` shows every trial's score and the best so far, beside each trial's score per
epoch (pruned trials stop early); ``importance.png`` ranks the tuned settings by Optuna's
parameter importance, which needs two completed trials that differ.
"""

from __future__ import annotations

import csv
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import optuna
import yaml
from matplotlib.ticker import MaxNLocator

from nerveseg.config import RunConfig, to_dict
from nerveseg.experiments.tune_space import Dimension, trial_values, with_values
from nerveseg.files import atomic_write, write_text
from nerveseg.plotting import save_figure
from nerveseg.runs import VAL_SCORE

log = logging.getLogger(__name__)

TRIALS_CSV = "trials.csv"
BEST = "best.yaml"
HISTORY = "history.png"
IMPORTANCE = "importance.png"
# A trial's user attribute with each structure's validation figures (several structures only),
# and the ones trials.csv shows.
STRUCTURES_ATTR = "val_structures"
STRUCTURE_FIGURES = ("score", "dice")

_State = optuna.trial.TrialState


def write_reports(
    study: optuna.Study, study_dir: Path, base: RunConfig, dimensions: list[Dimension]
) -> None:
    """(Re)write all four reports from the study's trials."""
    trials = study.get_trials(deepcopy=False)
    write_trials_csv(trials, dimensions, study_dir / TRIALS_CSV)
    complete = [t for t in trials if t.state == _State.COMPLETE and t.value is not None]
    if complete:
        best = max(complete, key=lambda t: t.value)
        write_best_config(best, base, dimensions, study_dir / BEST)
    history_figure(trials, study_dir / HISTORY)
    importance_figure(study, complete, study_dir / IMPORTANCE)


def write_trials_csv(trials, dimensions: list[Dimension], path: Path) -> None:
    """One row per trial: number, state, value, epochs, seconds, retry_of, run, then settings.

    With several structures, ``value`` is their mean validation score and each structure's
    score and Dice follow the settings (``score_vessel``, ``dice_vessel``).
    """
    keys = [d.key for d in dimensions]
    structures = list(
        dict.fromkeys(name for t in trials for name in t.user_attrs.get(STRUCTURES_ATTR, {}))
    )
    columns = [f"{figure}_{name}" for name in structures for figure in STRUCTURE_FIGURES]

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(
            ["number", "state", "value", "epochs", "seconds", "retry_of", "run", *keys, *columns]
        )
        for t in trials:
            values = trial_values(t, dimensions)
            retry_of = t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial", ""))
            writer.writerow(
                [
                    t.number,
                    t.state.name,
                    "" if t.value is None else f"{t.value:.6g}",
                    len(t.intermediate_values),
                    f"{t.duration.total_seconds():.1f}" if t.duration else "",
                    retry_of,
                    t.user_attrs.get("run", ""),
                    *(_cell(values.get(k, "")) for k in keys),
                    *_structure_cells(t, structures),
                ]
            )

    atomic_write(path, write)


def _structure_cells(trial, structures: list[str]) -> list[str]:
    figures = trial.user_attrs.get(STRUCTURES_ATTR, {})
    return [
        _cell(figures.get(name, {}).get(figure, ""))
        for name in structures
        for figure in STRUCTURE_FIGURES
    ]


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_best_config(
    best: optuna.trial.FrozenTrial, base: RunConfig, dimensions: list[Dimension], path: Path
) -> None:
    """The best trial's full config as a preset, with a comment saying where it came from."""
    values = trial_values(best, dimensions)
    config = with_values(base, values)
    header = [
        f"# Best trial of the study in {path.parent}: trial {best.number}, "
        f"{VAL_SCORE} {best.value:.4f} (run folder {best.user_attrs.get('run', '?')}).",
        "# Train with it: nerveseg train --data DIR --preset " + str(path),
        *(f"#   {k}: {_cell(v)}" for k, v in values.items()),
    ]
    write_text(path, "\n".join(header) + "\n" + yaml.safe_dump(to_dict(config), sort_keys=False))


def history_figure(trials, path: Path) -> None:
    """Left: each finished trial's score and the best so far. Right: score per epoch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    complete = [t for t in trials if t.state == _State.COMPLETE and t.value is not None]
    pruned = [t for t in trials if t.state == _State.PRUNED and t.intermediate_values]
    left.scatter([t.number for t in complete], [t.value for t in complete], label="complete")
    left.scatter(
        [t.number for t in pruned],
        [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
        facecolors="none",
        edgecolors="grey",
        label="pruned (last score)",
    )
    best, steps = -math.inf, []
    for t in sorted(complete, key=lambda t: t.number):
        best = max(best, t.value)
        steps.append((t.number, best))
    if steps:
        left.step(*zip(*steps, strict=True), where="post", color="C1", label="best so far")
    left.set(xlabel="trial", ylabel=VAL_SCORE, title="Trials")
    left.legend(loc="lower right", fontsize="small")
    for t in trials:
        if not t.intermediate_values:
            continue
        epochs = sorted(t.intermediate_values)
        style = (
            {"color": "grey", "linestyle": "--", "alpha": 0.6} if t.state == _State.PRUNED else {}
        )
        right.plot(epochs, [t.intermediate_values[e] for e in epochs], marker=".", **style)
    right.set(xlabel="epoch", ylabel=VAL_SCORE, title="Validation score per epoch (dashed: pruned)")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not complete and not pruned:
        left.text(0.5, 0.5, "no finished trial yet", ha="center", transform=left.transAxes)
    save_figure(fig, path)


def importance_figure(study: optuna.Study, complete: list, path: Path) -> None:
    """Bars of Optuna's parameter importance, or a note saying why there are none yet."""
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    importances: dict[str, float] = {}
    note = "needs at least 2 completed trials with different settings"
    if len({t.value for t in complete}) == 1 and len(complete) >= 2:
        note = f"all {len(complete)} completed trials scored the same"
    elif len(complete) >= 2:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            note = f"no importances: {exc}"
    if importances:
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names])
        ax.set(xlabel="importance (Optuna's default evaluator; sums to 1)", xlim=(0, 1))
        ax.set_title(f"Setting importance over {len(complete)} completed trials")
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, f"Setting importance: {note}", ha="center", va="center", wrap=True)
    save_figure(fig, path)
