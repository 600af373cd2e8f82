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
    """One or more input files are unusable.

    The message is one line: the first few problems and the fix (``nerveseg inspect`` lists
    every one); :attr:`problems` keeps them all for code that wants the full list.
    """

    SHOWN = 3

    def __init__(self, problems: Sequence[Problem], hint: str = "") -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[: self.SHOWN])
        if len(self.problems) == 1:
            message = shown
        else:
            message = f"{len(self.problems)} problems in the input data: {shown}"
            more = len(self.problems) - self.SHOWN
            if more > 0:
                message += f" (and {more} more; nerveseg inspect lists them all)"
        if hint:
            message += f". {hint}"
        super().__init__(message)
