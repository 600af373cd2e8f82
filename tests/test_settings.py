"""Typed settings: valid values declared beside each field, checked with the key in the message."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pytest

from nerveseg.errors import ConfigError
from nerveseg.settings import check_all, coerce, from_mapping, merge, setting

CALLS = []


def expensive_choices() -> tuple[str, ...]:
    CALLS.append(1)
    return ("fast", "slow")


@dataclass
class Inner:
    rate: float = setting(0.5, above=0.0, at_most=1.0)
    sizes: list[int] = setting(default_factory=lambda: [2, 3], at_least=1)


@dataclass
class Outer:
    mode: str = setting("fast", choices=expensive_choices)
    count: int = setting(1, at_least=0)
    inner: Inner = field(default_factory=Inner)

    def check(self) -> None:
        if self.count > 10 and self.mode == "fast":
            raise ConfigError("count above 10 needs mode slow")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "quick"}, "x: mode must be one of fast, slow; got 'quick'"),
        ({"count": -1}, "x: count must be at least 0; got -1"),
        ({"inner": {"rate": 0.0}}, "x: inner.rate must be above 0 and at most 1; got 0.0"),
        ({"inner": {"rate": math.nan}}, "inner.rate must be above 0 and at most 1; got nan"),
        ({"inner": {"sizes": [2, 0]}}, "inner.sizes must be at least 1; got 0"),
        ({"inner": {"rat": 1}}, "unknown key 'inner.rat' in Inner; valid keys: rate, sizes"),
        ({"inner": 3}, "inner must be a mapping"),
        ({"count": 1.5}, "expected a whole number"),
        ({"count": True}, "expected a whole number"),
    ],
)
def test_bad_values_name_the_key_and_what_is_valid(values, message):
    with pytest.raises(ConfigError) as error:
        merge(Outer(), values, source="x")
    assert message in str(error.value)


def test_good_values_are_coerced_and_kept():
    merged = merge(Outer(), {"mode": "slow", "inner": {"rate": 1, "sizes": [4]}}, source="x")
    assert merged == Outer(mode="slow", inner=Inner(rate=1.0, sizes=[4]))
    assert isinstance(merged.inner.rate, float)


def test_costly_choices_are_listed_only_for_a_value_other_than_the_default():
    CALLS.clear()
    check_all(Outer())
    merge(Outer(), {"count": 3}, source="x")
    assert CALLS == []
    merge(Outer(), {"mode": "slow"}, source="x")
    assert CALLS == [1]


def test_rules_between_fields_run_once_everything_is_in_place():
    # count=11 with mode=slow is fine, whichever of the two is set first.
    merged = merge(merge(Outer(), {"count": 11}, source="a"), {"mode": "slow"}, source="b")
    check_all(merged)
    with pytest.raises(ConfigError, match="count above 10 needs mode slow"):
        check_all(Outer(count=11))


def test_check_all_finds_values_set_in_python():
    with pytest.raises(ConfigError, match=re.escape("inner.rate must be above 0")):
        check_all(Outer(inner=Inner(rate=-1.0)))


@dataclass
class Record:
    name: str
    size: tuple[int, int] = setting(at_least=1)
    weight: float = 1.0


def test_from_mapping_needs_the_fields_without_defaults():
    assert from_mapping(Record, {"name": "a", "size": [2, 3]}, source="f") == Record("a", (2, 3))
    with pytest.raises(ConfigError, match="f: missing key\\(s\\) size"):
        from_mapping(Record, {"name": "a"}, source="f")
    with pytest.raises(ConfigError, match="expected 2 values"):
        from_mapping(Record, {"name": "a", "size": [1, 2, 3]}, source="f")
    with pytest.raises(ConfigError, match="size must be at least 1"):
        from_mapping(Record, {"name": "a", "size": [0, 2]}, source="f")
    with pytest.raises(ConfigError, match="expected a mapping"):
        from_mapping(Record, ["a"], source="f")


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [("1e-4", float, 1e-4), (3, float, 3.0), (7, str, "7"), (None, int | None, None)],
)
def test_coerce_accepts_what_yaml_gives(value, hint, expected):
    assert coerce(value, hint, "here") == expected
