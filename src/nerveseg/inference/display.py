"""Showing the overlay in a window to the person at the probe (``nerveseg live --show``).

matplotlib, already a dependency, rather than a GUI toolkit of our own: a window is optional
and never used in tests; without a display (``DISPLAY``/``WAYLAND_DISPLAY`` unset) it refuses
in one line before anything runs.
"""

from __future__ import annotations

import os

import numpy as np

from nerveseg.errors import NervesegError


class Window:
    """The overlay in a matplotlib window, for a person at the probe; closing it stops."""

    def __init__(self) -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise NervesegError("--show needs a display (DISPLAY is not set); leave --show out")
        import matplotlib.pyplot as plt

        plt.switch_backend(_interactive_backend(plt))  # nerveseg.plotting picks Agg for files
        plt.ion()
        self._plt = plt
        self._figure, axes = plt.subplots()
        axes.set_axis_off()
        self._image = None
        self._axes = axes

    def show(self, rgb: np.ndarray) -> None:
        if self._image is None:
            self._image = self._axes.imshow(rgb)
        else:
            self._image.set_data(rgb)
        if not self._plt.fignum_exists(self._figure.number):
            raise KeyboardInterrupt  # the window was closed: stop as Ctrl-C would
        self._plt.pause(0.001)


def _interactive_backend(plt) -> str:
    """The first GUI backend that loads here (Tk ships with most Pythons, then Qt)."""
    for backend in ("TkAgg", "QtAgg"):
        try:
            plt.switch_backend(backend)
            return backend
        except (ImportError, RuntimeError):
            continue
    raise NervesegError(
        "--show needs a GUI toolkit for matplotlib (tkinter or Qt); install one or leave --show out"
    )
