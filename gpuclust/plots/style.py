"""One look for every figure: a colour-blind-safe palette, labelled axes, saved atomically.

Every title is placed at y=1.0 (`ax.set_title(..., y=1.0)`): matplotlib's automatic placement measures
every axis's tick labels to clear any at the top, and none of these figures has any there. The PNGs are
the same pixel for pixel, and the seven figures of benchmarks/bench_figures.py took 2.78 s instead of 2.92
(results/figures-titles-amd-epyc.json: a little, most of a figure's time is matplotlib's ticks and text).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

from ..atomic import atomic_path  # noqa: E402

# Okabe & Ito (2008), safe for the common colour-vision deficiencies; extended with
# Paul Tol's muted scheme for K > 8.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
TOL_MUTED = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
             "#AA4499", "#DDDDDD"]


def palette(k: int) -> list[str]:
    colours = OKABE_ITO + TOL_MUTED
    return [colours[i % len(colours)] for i in range(k)]


def save(fig, path, tight: bool = True) -> None:
    """Write `fig` as a PNG, atomically; `tight` crops it to what is drawn (one more layout pass)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight" if tight else None, format="png")
    plt.close(fig)
