"""Typed settings: each component's config dataclass declares what its fields accept.

A field says its valid values beside its default::

    scheduler: str = setting("plateau", choices=("plateau", "cosine", "none"))
    lr: float = setting(5e-4, above=0)

and :func:`merge` / :func:`from_mapping` lay a mapping (YAML, ``--set``, JSON from a model file)
over such a dataclass, checking keys, types and those limits, so a typo or an impossible value
fails in one line that names the key and what is valid, before anything runs. A dataclass may
also define ``check(self)`` for rules that tie its fields together (``data.fold`` below
``data.folds``); :func:`check_all` runs them once every value is in place.

Kept apart from :mod:`nerveseg.config`, which composes the run config, so that the data and model
stages (which ``config.py`` imports) and the model file can use it without importing upwards.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from nerveseg.errors import ConfigError

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    default_factory: Callable[[], Any] | Any = _MISSING,
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
) -> Any:
    """A dataclass field with its valid values; numbers apply to each item of a list setting.

    ``choices`` may be a function, called only when a value other than the default is checked,
    so that a list that is costly to build (Lightning's strategies) is built only when needed.
    """
    limits = {
        "choices": choices,
        "at_least": at_least,
        "above": above,
        "at_most": at_most,
        "below": below,
    }
    metadata = {k: v for k, v in limits.items() if v is not None}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def check_value(key: str, value: Any, spec: dataclasses.Field) -> None:
    """Raise :class:`ConfigError` naming ``key`` when ``value`` breaks ``spec``'s limits."""
    limits = spec.metadata
    choices = limits.get("choices")
    if choices is not None and value != spec.default:
        options = list(choices() if callable(choices) else choices)
        if value not in options:
            raise ConfigError(f"{key} must be one of {', '.join(map(str, options))}; got {value!r}")
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, int | float) or isinstance(item, bool):
            continue
        _check_number(key, item, limits)


_RULES = (
    ("at_least", lambda value, bound: value >= bound, "at least"),
    ("above", lambda value, bound: value > bound, "above"),
    ("at_most", lambda value, bound: value <= bound, "at most"),
    ("below", lambda value, bound: value < bound, "below"),
)


def _check_number(key: str, number: float, limits: typing.Mapping[str, Any]) -> None:
    if math.isinf(number):  # no setting means "unlimited" by infinity; 0 does where it can
        raise ConfigError(f"{key} must be a finite number; got {number!r}")
    rules = [(bound_name, ok, words) for bound_name, ok, words in _RULES if bound_name in limits]
    # NaN fails every comparison, so a NaN learning rate is refused like a negative one.
    if all(ok(number, limits[name]) for name, ok, _ in rules):
        return
    allowed = " and ".join(f"{words} {limits[name]:g}" for name, _, words in rules)
    raise ConfigError(f"{key} must be {allowed}; got {number!r}")


def merge(config: Any, values: dict[str, Any], *, source: str, prefix: str = "") -> Any:
    """``config`` (a dataclass) with ``values`` (a nested mapping) laid over it, checked.

    Args:
        config: the dataclass to start from.
        values: setting name -> value; a nested dataclass takes a mapping of its own.
        source: where the values come from, for messages (a file, ``--set a.b=c``).
        prefix: the dotted path of ``config`` in a larger config (``optim.``).
    """
    known = {f.name: f for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    changes = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {prefix + key!r} in {type(config).__name__}; "
                f"valid keys: {', '.join(known)}"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {prefix}{key} must be a mapping of its settings")
            changes[key] = merge(current, value, source=source, prefix=f"{prefix}{key}.")
            continue
        changes[key] = coerce(value, hints[key], f"{source}: {prefix}{key}")
        try:
            check_value(f"{prefix}{key}", changes[key], known[key])
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return dataclasses.replace(config, **changes)


def from_mapping(kind: type, values: Any, *, source: str) -> Any:
    """Build the dataclass ``kind`` from a mapping in which fields without a default must appear."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping of {kind.__name__} settings")
    required = [
        f.name
        for f in dataclasses.fields(kind)
        if f.default is _MISSING and f.default_factory is _MISSING
    ]
    missing = [name for name in required if name not in values]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {', '.join(missing)}")
    hints = typing.get_type_hints(kind)
    given = {}
    for name in required:
        given[name] = coerce(values[name], hints[name], f"{source}: {name}")
    placeholder = kind(**given)
    rest = {k: v for k, v in values.items() if k not in required}
    built = merge(placeholder, rest, source=source)
    check_all(built, source=source)
    return built


def check_all(config: Any, *, source: str = "", prefix: str = "") -> None:
    """Check every field of ``config`` (and nested dataclasses) and its ``check()`` rules.

    For configs built in Python rather than loaded: those never went through :func:`merge`.
    """
    where = f"{source}: " if source else ""
    for spec in dataclasses.fields(config):
        value = getattr(config, spec.name)
        if dataclasses.is_dataclass(value):
            check_all(value, source=source, prefix=f"{prefix}{spec.name}.")
            continue
        try:
            check_value(f"{prefix}{spec.name}", value, spec)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None
    rules = getattr(config, "check", None)
    if callable(rules):
        try:
            rules()
        except ConfigError as exc:
            raise ConfigError(f"{where}{prefix}{exc}") from None


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the type ``hint`` says (YAML's ints for floats, lists for tuples ...), or raise."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if value is None:
            return None
        return coerce(value, options[0], where)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = [a for a in typing.get_args(hint) if a is not Ellipsis]
        items = [coerce(v, inner[0], where) for v in value] if inner else list(value)
        fixed = origin is tuple and inner and len(typing.get_args(hint)) == len(inner)
        if fixed and len(items) != len(inner):
            raise ConfigError(f"{where}: expected {len(inner)} values, got {value!r}")
        return tuple(items) if (origin is tuple or hint is tuple) else items
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of key: value, got {value!r}")
        return {
            coerce(k, key_hint, where): coerce(v, value_hint, f"{where}: {k}")
            for k, v in value.items()
        }
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as text
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return value
