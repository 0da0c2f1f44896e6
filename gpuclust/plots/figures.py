"""The figures seismologists use (all PNG): loss, t-SNE map, gallery, K selection, time series, confusion."""
from __future__ import annotations

import datetime as dt

import numpy as np

from ..times import utc
from .style import palette, plt, save

import matplotlib.dates as mdates  # noqa: E402  (after style, which selects the backend)


def loss_figure(history: list[dict], path, title="Autoencoder training") -> None:
    """Training and validation loss per epoch (the reference's loss figures)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["train_loss"] for h in history], "o-", color=palette(2)[0], label="training")
    if any(h.get("val_loss") is not None for h in history):
        ax.plot(ep, [h["val_loss"] for h in history], "s--", color=palette(2)[1], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE)")
    ax.set_yscale("log")
    ax.set_title(title, y=1.0)
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, path)


def tsne_figure(xy, labels, k: int, path, title="t-SNE of the latent space") -> None:
    """t-SNE map coloured by cluster beside a histogram of cluster sizes (the study's figures 3-4)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1.4, 1]})
    cols = palette(k)
    size = max(1.5, min(12.0, 15000 / max(len(xy), 1)))
    for j in range(k):
        m = labels == j
        a.scatter(xy[m, 0], xy[m, 1], s=size, color=cols[j], label=f"cluster {j}", alpha=0.7, linewidths=0)
    a.set_xlabel("t-SNE 1")
    a.set_ylabel("t-SNE 2")
    a.set_title(title, y=1.0)
    a.legend(markerscale=max(1, 6 / size), fontsize=8, loc="best", frameon=True)
    counts = np.bincount(labels, minlength=k)
    b.bar(np.arange(k), counts, color=cols)
    b.set_xlabel("cluster")
    b.set_ylabel("number of events")
    b.set_title("cluster sizes", y=1.0)
    b.set_xticks(np.arange(k))
    save(fig, path)


def map_figure(ref_xy, ref_labels, new_xy, new_labels, unknown, k: int, path,
               title="New events on the run's t-SNE map") -> None:
    """The run's map (faint, coloured by cluster) with new events on it: known ones in their cluster's
    colour, unknown ones (fitting no cluster) as white crosses outlined in black."""
    fig, ax = plt.subplots(figsize=(8, 6.5))
    cols = palette(k)
    ref_labels = np.asarray(ref_labels)
    for j in range(k):
        m = ref_labels == j
        ax.scatter(ref_xy[m, 0], ref_xy[m, 1], s=3, color=cols[j], alpha=0.15, linewidths=0)
    known = ~np.asarray(unknown, bool)
    for j in range(k):
        m = known & (np.asarray(new_labels) == j)
        if m.any():
            ax.scatter(new_xy[m, 0], new_xy[m, 1], s=14, color=cols[j], edgecolors="black", linewidths=0.3,
                       label=f"cluster {j} ({int(m.sum())})")
    if (~known).any():
        ax.scatter(new_xy[~known, 0], new_xy[~known, 1], s=46, marker="X", facecolor="white", edgecolor="black",
                   linewidths=0.9, label=f"unknown ({int((~known).sum())})")
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title + " (faint: the run's own events)", y=1.0)
    ax.legend(fontsize=8, loc="best", frameon=True)
    save(fig, path)


def k_selection_figure(result: dict, path) -> None:
    """One panel per criterion of a K sweep; the choice (dotted) and the runner-up (dashed) where known."""
    rows = result["rows"]
    ks = [r["k"] for r in rows]
    panels = [(key, label) for key, label in (("bic", "BIC"), ("aic", "AIC"), ("inertia", "inertia"),
                                              ("silhouette", "silhouette"), ("gap", "gap statistic"),
                                              ("instability", "instability (normalised)"),
                                              ("stability_ari", "half-split ARI"))
              if key in rows[0]]
    ent = result.get("entropy")
    n = len(panels) + (1 if ent else 0)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    chosen = result.get("chosen") or {}
    criterion_of = {"bic": "bic", "aic": None, "inertia": "gap", "gap": "gap", "silhouette": "silhouette",
                    "instability": "stability", "stability_ari": "stability_ari"}
    for ax, (key, label) in zip(axes[0], panels):
        y = [r[key] for r in rows]
        if key == "gap":
            ax.errorbar(ks, y, yerr=[r["gap_sd"] for r in rows], fmt="o-", color=palette(1)[0])
        elif key == "instability":
            ax.errorbar(ks, y, yerr=[r["instability_sd"] for r in rows], fmt="o-", color=palette(1)[0])
        else:
            ax.plot(ks, y, "o-", color=palette(1)[0])
        _mark_choice(ax, chosen.get(criterion_of[key]) if chosen else _legacy_choice(result, key))
        ax.set_xlabel("K (clusters)")
        ax.set_ylabel(label)
        ax.set_title(label, y=1.0)
        ax.grid(alpha=0.3)
    if ent:
        ax = axes[0][-1]
        curve = ent["entropy"]
        ax.plot(range(1, len(curve) + 1), curve, "o-", color=palette(1)[0])
        _mark_choice(ax, chosen.get("entropy") or {"k": ent["k"]})
        ax.set_xlabel(f"clusters (merged from {len(curve)} components)")
        ax.set_ylabel("posterior entropy")
        ax.set_title("entropy merging", y=1.0)
        ax.grid(alpha=0.3)
    fig.suptitle("Choosing K" + (f": {result['auto']['criterion']} chose {result['auto']['k']}"
                                 if result.get("auto") else ""))
    fig.tight_layout()
    save(fig, path)


def _legacy_choice(result, key):
    """The per-method suggestion of a sweep without "chosen" (select-k's: gmm for BIC/AIC, K-means otherwise)."""
    s = result.get("suggestion", {})
    return s.get("gmm") if key in ("bic", "aic") else s.get("kmeans")


def _mark_choice(ax, pick) -> None:
    if not pick:
        return
    ax.axvline(pick["k"], color="grey", ls=":", label=f"chosen K={pick['k']}")
    if pick.get("runner_up") is not None:
        ax.axvline(pick["runner_up"], color="grey", ls="--", alpha=0.6, label=f"runner-up K={pick['runner_up']}")
    ax.legend(fontsize=7)


def confusion_figure(cm: np.ndarray, class_names, path, cluster_names=None) -> None:
    """Counts of true classes (rows) in each cluster (columns), rows normalised for the colour."""
    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * cm.shape[1], 1.0 + 0.45 * cm.shape[0]))
    im = ax.imshow(frac, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if frac[i, j] < 0.6 else "black")
    ax.set_xticks(range(cm.shape[1]))
    if cluster_names:
        ax.set_xticklabels(list(cluster_names)[:cm.shape[1]] + [str(j) for j in range(len(cluster_names),
                                                                                      cm.shape[1])], fontsize=8)
    ax.set_yticks(range(cm.shape[0]))
    names = list(class_names or [])
    ax.set_yticklabels(names + [str(i) for i in range(len(names), cm.shape[0])] if names else range(cm.shape[0]),
                       fontsize=8)
    ax.set_xlabel("cluster")
    ax.set_ylabel("true class")
    ax.set_title("Clusters against ground truth", y=1.0)
    fig.colorbar(im, ax=ax, label="fraction of the class")
    save(fig, path)


def clip_overlay(overlay: dict, lo, hi) -> dict | None:
    """The part of a driver series {"name", "times", "values"} between lo and hi; None if nothing is left."""
    inside = [i for i, t in enumerate(overlay["times"]) if lo <= t <= hi]
    if not inside:
        return None
    return {**overlay, "times": [overlay["times"][i] for i in inside], "values": np.asarray(overlay["values"])[inside]}


def temporal_figure(catalogue, labels, k: int, path, max_stations: int = 6, unknown=None, overlay=None) -> bool:
    """Class counts over time, one panel per station (the busiest few); False if the catalogue has no times.

    unknown: events flagged as fitting no cluster, counted in grey; overlay: a driver series
    {"name", "times", "values"} (temperature, wind, tide, ...) drawn on a second axis of every panel.
    """
    times, stations = [], []
    for c in catalogue:
        t = c.get("dt_on") or c.get("dt_peak")
        if not t:
            return False
        try:
            times.append(utc(t))  # UTC, as the overlay's: offsets in either compare
        except ValueError:
            return False
        stations.append(c.get("station", "?"))
    if not times:
        return False
    labels = np.asarray(labels)
    unknown = np.zeros(len(labels), bool) if unknown is None else np.asarray(unknown, bool)
    stations = np.array(stations)
    names, counts = np.unique(stations, return_counts=True)
    top = names[np.argsort(-counts)][:max_stations]
    days = np.array([t.date().toordinal() for t in times])
    bins = np.arange(days.min(), days.max() + 2, max(1, (days.max() - days.min() + 1) // 60))
    fig, axes = plt.subplots(len(top), 1, figsize=(9, 1.6 * len(top) + 0.8), sharex=True, squeeze=False)
    cols = palette(k) + (["#999999"] if unknown.any() else [])
    series = [f"cluster {j}" for j in range(k)] + (["unknown"] if unknown.any() else [])
    centres = [dt.date.fromordinal(int(b)) for b in bins[:-1]]
    note = ""
    if overlay is not None:  # drawn over the events' time span only (a driver file may cover far more)
        name = overlay["name"]
        overlay = clip_overlay(overlay, dt.datetime.fromordinal(int(bins[0])), dt.datetime.fromordinal(int(bins[-1])))
        note = "" if overlay else f" ({name} has no values in this time span)"
    for ax, st in zip(axes[:, 0], top):
        m = stations == st
        stack = [np.histogram(days[m & (labels == j) & ~unknown], bins)[0] for j in range(k)]
        if unknown.any():
            stack.append(np.histogram(days[m & unknown], bins)[0])
        ax.stackplot(centres, stack, colors=cols, labels=series)
        ax.set_ylabel(f"{st}\nevents/bin", fontsize=8)
        if overlay is not None:
            tw = ax.twinx()
            tw.plot(overlay["times"], overlay["values"], color="black", lw=0.8, alpha=0.8, label=overlay["name"])
            tw.set_ylabel(overlay["name"], fontsize=8)
            tw.tick_params(labelsize=7)
    axes[0, 0].legend(ncol=min(len(series), 9), fontsize=7, loc="upper left", bbox_to_anchor=(0, 1.5))
    locator = mdates.AutoDateLocator()
    axes[-1, 0].xaxis.set_major_locator(locator)
    axes[-1, 0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[-1, 0].set_xlabel("date")
    fig.suptitle("Events per cluster over time, by station"
                 + (f", with {overlay['name']} (black line)" if overlay is not None else note), y=1.02)
    save(fig, path)
    return True
