"""Per-cluster gallery: mean spectrogram, decoded centroid, and members at increasing distance from the centre.

A run draws one per cluster, so its layout is fixed in inches rather than measured from the text
(matplotlib's tight layout and tight bounding box drew every label three times: 1.7-1.9 s a gallery, most
of a small run's figures stage). The spectrograms share one frequency axis, labelled once.
"""
from __future__ import annotations

import numpy as np

from .style import palette, plt, save

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.95)
COL_IN, SPEC_IN, TRACE_IN = 2.2, 2.0, 1.0  # inches: a column's width, the spectrogram and trace rows' heights
LEFT_IN, RIGHT_IN, TOP_IN, BOTTOM_IN = 0.55, 0.15, 0.75, 0.45  # margins for the labels and titles
GAP_IN = 0.55  # between the rows: the spectrograms' time labels


def _show(ax, img, freqs, times, title, ylabel):
    extent = None
    if freqs is not None and times is not None:
        extent = [times[0], times[-1], freqs[0], freqs[-1]]
    ax.imshow(img, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax.set_title(title, fontsize=8, y=1.0)
    ax.set_xlabel("time (s)" if extent else "time bin", fontsize=7)
    if ylabel:
        ax.set_ylabel("frequency (Hz)" if extent else "frequency bin", fontsize=7)
    else:
        ax.tick_params(labelleft=False)
    ax.tick_params(labelsize=6)


def pick_examples(dist: np.ndarray, quantiles=QUANTILES) -> np.ndarray:
    """Positions of members at the given quantiles of distance to the centre (nearest first)."""
    order = np.argsort(dist)
    return order[np.unique([int(q * (len(order) - 1)) for q in quantiles])]


def _layout(n_cols: int, has_tr: bool):
    """The figure and its grid, margins and gaps in inches whatever the number of columns."""
    rows = (SPEC_IN, TRACE_IN) if has_tr else (SPEC_IN,)
    gap = GAP_IN if has_tr else 0.0
    width = LEFT_IN + RIGHT_IN + COL_IN * n_cols
    height = TOP_IN + BOTTOM_IN + sum(rows) + gap
    fig = plt.figure(figsize=(width, height))
    gs = fig.add_gridspec(len(rows), n_cols, height_ratios=rows, left=LEFT_IN / width, right=1 - RIGHT_IN / width,
                          top=1 - TOP_IN / height, bottom=BOTTOM_IN / height,
                          wspace=0.3, hspace=gap / (sum(rows) / len(rows)))  # matplotlib's: over the mean row
    return fig, gs


def cluster_gallery(j: int, k: int, mean_img, centroid_img, examples, example_rows, example_dist, traces,
                    freqs, times, fs, path) -> None:
    """One PNG: top row spectrograms, bottom row the waveform under each example (if the file has traces)."""
    n_cols = 2 + len(examples)
    has_tr = traces is not None
    fig, gs = _layout(n_cols, has_tr)
    first = fig.add_subplot(gs[0, 0])
    _show(first, mean_img, freqs, times, "mean spectrogram", ylabel=True)

    def spec(c):  # the spectrograms share the mean's axes
        return fig.add_subplot(gs[0, c], sharex=first, sharey=first)

    if centroid_img is not None:
        _show(spec(1), centroid_img, freqs, times, "decoded centroid", ylabel=False)
    for c, (img, row, d) in enumerate(zip(examples, example_rows, example_dist)):
        _show(spec(2 + c), img, freqs, times, f"row {row}\ndistance {d:.2f}", ylabel=False)
        if has_tr:
            t = np.arange(traces.shape[1]) / fs
            ax = fig.add_subplot(gs[1, 2 + c])
            ax.plot(t, traces[c] * 1e6, color=palette(k)[j], lw=0.7)
            ax.set_xlabel("time (s)", fontsize=7)
            ax.set_ylabel("velocity (µm/s)", fontsize=7, labelpad=1)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"Cluster {j}: centre, then members at increasing distance from it (latent space)", fontsize=10)
    save(fig, path, tight=False)
