"""Per-cluster gallery: mean spectrogram, decoded centroid, and members at increasing distance from the centre."""
from __future__ import annotations

import numpy as np

from .style import palette, plt, save

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.95)


def _show(ax, img, freqs, times, title):
    extent = None
    if freqs is not None and times is not None:
        extent = [times[0], times[-1], freqs[0], freqs[-1]]
    ax.imshow(img, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("time (s)" if extent else "time bin", fontsize=7)
    ax.set_ylabel("frequency (Hz)" if extent else "frequency bin", fontsize=7)
    ax.tick_params(labelsize=6)


def pick_examples(dist: np.ndarray, quantiles=QUANTILES) -> np.ndarray:
    """Positions of members at the given quantiles of distance to the centre (nearest first)."""
    order = np.argsort(dist)
    return order[np.unique([int(q * (len(order) - 1)) for q in quantiles])]


def cluster_gallery(j: int, k: int, mean_img, centroid_img, examples, example_rows, example_dist, traces,
                    freqs, times, fs, path) -> None:
    """One PNG: top row spectrograms, bottom row the waveform under each example (if the file has traces)."""
    n_cols = 2 + len(examples)
    has_tr = traces is not None
    fig, axes = plt.subplots(2 if has_tr else 1, n_cols, figsize=(2.2 * n_cols, 4.6 if has_tr else 2.6),
                             squeeze=False, gridspec_kw={"height_ratios": [2, 1]} if has_tr else None)
    _show(axes[0, 0], mean_img, freqs, times, "mean spectrogram")
    if centroid_img is not None:
        _show(axes[0, 1], centroid_img, freqs, times, "decoded centroid")
    else:
        axes[0, 1].axis("off")
    for c, (img, row, d) in enumerate(zip(examples, example_rows, example_dist)):
        _show(axes[0, 2 + c], img, freqs, times, f"row {row}\ndistance {d:.2f}")
        if has_tr:
            t = np.arange(traces.shape[1]) / fs
            ax = axes[1, 2 + c]
            ax.plot(t, traces[c] * 1e6, color=palette(k)[j], lw=0.7)
            ax.set_xlabel("time (s)", fontsize=7)
            ax.set_ylabel("velocity (µm/s)", fontsize=7)
            ax.tick_params(labelsize=6)
    if has_tr:
        axes[1, 0].axis("off")
        axes[1, 1].axis("off")
    fig.suptitle(f"Cluster {j}: centre, then members at increasing distance from it (latent space)", fontsize=10)
    fig.tight_layout()
    save(fig, path)
