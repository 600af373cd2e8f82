"""Saving figures: the one way nerveseg writes a Matplotlib figure to a PNG.

Matplotlib's non-interactive Agg backend is chosen on import, so no display is ever needed. A
figure is laid out (unless it chose a layout engine of its own), written atomically like every
file nerveseg writes, and closed, so a long report or study never accumulates open figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from nerveseg.files import atomic_path

DPI = 100


def save_figure(figure: Figure, path: Path, *, dpi: int = DPI, tight: bool = True) -> None:
    """Lay out ``figure``, write it to ``path`` as PNG atomically, and close it.

    ``tight`` False keeps margins the figure set itself (``subplots_adjust``).
    """
    if tight and figure.get_layout_engine() is None:
        figure.tight_layout()
    with atomic_path(Path(path)) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    plt.close(figure)
