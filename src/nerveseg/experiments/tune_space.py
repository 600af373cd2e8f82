"""The search space of ``nerveseg tune``: ``tune.space`` entries checked and turned into Optuna calls.

``tune.space`` maps a dotted setting to a spec: ``[float, low, high]``, ``[log_float, low,
high]``, ``[int, low, high]``, ``[log_int, low, high]`` or ``[categorical, choice, ...]``.
Choices may be anything the setting holds (``[96, 128]`` for ``data.image_size``, ``true`` /
``false`` for a switch); Optuna stores list choices as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import optuna

from nerveseg.config import RunConfig
from nerveseg.errors import ConfigError
from nerveseg.settings import merge

KINDS = ("float", "log_float", "int", "log_int", "categorical")


@dataclass(frozen=True)
class Dimension:
    """One entry of the search space: a dotted setting, its kind and (low, high) or choices."""

    key: str
    kind: str
    values: tuple

    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's value for this setting (a choice as written in the config)."""
        if self.kind == "categorical":
            labels = [_label(c) for c in self.values]
            return self.values[labels.index(trial.suggest_categorical(self.key, labels))]
        low, high = self.values
        log_scale = self.kind.startswith("log_")
        if self.kind.endswith("int"):
            return trial.suggest_int(self.key, low, high, log=log_scale)
        return trial.suggest_float(self.key, low, high, log=log_scale)

    def decode(self, param: Any) -> Any:
        """A value as Optuna stores it (lists of choices are stored as JSON text) -> config value."""
        if self.kind == "categorical":
            return self.values[[_label(c) for c in self.values].index(param)]
        return param


def _label(choice: Any) -> Any:
    # Optuna's choices must be None, bool, int, float or str; [96, 128] becomes "[96, 128]".
    if choice is None or isinstance(choice, bool | int | float | str):
        return choice
    return json.dumps(choice)


def parse_space(config: RunConfig) -> list[Dimension]:
    """Check ``config.tune.space`` and return its dimensions.

    Raises:
        ConfigError: naming the entry, for an unknown kind or setting, bad bounds, or values
            the setting cannot hold (a float range for a whole-number setting, say).
    """
    if not config.tune.space:
        raise ConfigError("tune.space is empty: give at least one setting to tune")
    dimensions = []
    for key, spec in config.tune.space.items():
        where = f"tune.space: {key}"
        if key.split(".")[0] == "tune":
            raise ConfigError(f"{where}: the tuner's own settings cannot be tuned")
        if not isinstance(spec, list) or not spec or spec[0] not in KINDS:
            raise ConfigError(
                f"{where}: expected [kind, ...] with kind one of {', '.join(KINDS)}, got {spec!r}"
            )
        kind, args = spec[0], spec[1:]
        if kind == "categorical":
            if not args:
                raise ConfigError(f"{where}: [categorical, ...] needs at least one choice")
            labels = [_label(a) for a in args]
            if len(set(map(repr, labels))) != len(labels):
                raise ConfigError(f"{where}: a choice is listed twice in {spec!r}")
            dimension = Dimension(key, kind, tuple(args))
        else:
            if len(args) != 2:
                raise ConfigError(f"{where}: expected [{kind}, low, high], got {spec!r}")
            low, high = (_number(a, kind, where) for a in args)
            if not low < high:
                raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
            if kind.startswith("log_") and low <= 0:
                raise ConfigError(f"{where}: a log scale needs low > 0, got {low}")
            dimension = Dimension(key, kind, (low, high))
        for value in dimension.values:  # the setting exists and can hold these values
            with_values(config, {key: value})
        dimensions.append(dimension)
    return dimensions


def _number(value: Any, kind: str, where: str) -> int | float:
    if kind.endswith("int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: [{kind}, low, high] takes whole numbers, got {value!r}")
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 as text
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(f"{where}: [{kind}, low, high] takes numbers, got {value!r}")


def with_values(config: RunConfig, values: dict[str, Any]) -> RunConfig:
    """``config`` with dotted settings replaced, type-checked as ``--set`` is."""
    for key, value in values.items():
        nested: Any = value
        for part in reversed(key.split(".")):
            nested = {part: nested}
        config = merge(config, nested, source=f"tune.space: {key}")
    return config


def trial_values(trial: optuna.trial.FrozenTrial, dimensions: list[Dimension]) -> dict[str, Any]:
    """A finished trial's settings as config values."""
    return {d.key: d.decode(trial.params[d.key]) for d in dimensions if d.key in trial.params}
