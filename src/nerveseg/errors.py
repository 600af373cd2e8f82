"""User-facing errors.

A :class:`NervesegError` carries a message meant for a person: it names the file and the fix.
The CLI prints it without a traceback and exits with status 2. Anything else that escapes is a
bug in nerveseg and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class NervesegError(Exception):
    """An error in the user's input or request, with a message that says how to fix it."""


class ConfigError(NervesegError):
    """A config file, preset or ``--set`` override is wrong."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input file.

    Attributes:
        path: the offending file (or folder).
        reason: what is wrong, in words a person can act on.
    """

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class DataError(NervesegError):
    """One or more input files are unusable; every problem found is listed, not just the first."""

    def __init__(self, problems: Sequence[Problem], hint: str = "") -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        if more > 0:
            shown += f"\n  ... and {more} more"
        message = f"{len(self.problems)} problem(s) in the input data:\n{shown}"
        if hint:
            message += f"\n{hint}"
        super().__init__(message)
