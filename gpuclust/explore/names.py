"""Cluster names chosen on the explore page, written into the run's model (`gpuclust name RUN_DIR names.json`).

The page saves {"format": "gpuclust-names", "version": 1, "k": K, "names": {"3": "icequake", ...}};
two clusters with the same name are merged for whoever reads the names (labels.csv's cluster_name,
QuakeML). The model keeps them as classes.cluster_names in model.json, one entry per cluster (null
where unnamed), and the run's labels.csv gets a cluster_name column; predict writes them into its
labels.csv and QuakeML, and a name QuakeML knows
("icequake" ...) gives the event its QuakeML type.
"""
from __future__ import annotations

import json
import os

from ..errors import GpuclustError
from .rundata import model_file, read_json, update_model_meta

FORMAT = "gpuclust-names"
MAX_NAME = 64


def read_names(path: str, k: int) -> list:
    """One name (or None) per cluster from a names JSON, with one-line errors for what is wrong in it."""
    doc = read_json(path, "no such names file")
    if isinstance(doc, dict) and "names" in doc:
        if doc.get("format", FORMAT) != FORMAT:
            raise GpuclustError(f"{path}: not a gpuclust names file (format {doc.get('format')!r})")
        if doc.get("k") is not None and int(doc["k"]) != k:
            raise GpuclustError(f"{path}: names for {doc['k']} clusters, the run has {k}")
        given = doc["names"]
    else:
        given = doc  # a plain {"cluster": "name"} mapping
    if not isinstance(given, dict):
        raise GpuclustError(f"{path}: names must be an object of cluster number to name")
    out = [None] * k
    for key, name in given.items():
        try:
            j = int(key)
        except (TypeError, ValueError):
            raise GpuclustError(f"{path}: {key!r} is not a cluster number")
        if not 0 <= j < k:
            raise GpuclustError(f"{path}: cluster {j} does not exist (the run has clusters 0 to {k - 1})")
        if name is None or (isinstance(name, str) and not name.strip()):
            continue
        if not isinstance(name, str) or len(name.strip()) > MAX_NAME or any(c in name for c in "\n\r\t,\""):
            raise GpuclustError(f"{path}: cluster {j}: a name is text of at most {MAX_NAME} characters without "
                                f"commas, quotes or line breaks, got {name!r}")
        out[j] = name.strip()
    return out


def write_names(run_dir: str, names_path: str) -> list:
    """Write the names into <run_dir>/model/model.json, and as the cluster_name column of the run's own
    labels.csv; returns them (one per cluster, None where unnamed)."""
    meta_path = model_file(run_dir, "model.json")
    if not os.path.exists(meta_path):
        raise GpuclustError(f"{run_dir}: holds no saved model (no model/model.json)")
    with open(meta_path) as fh:
        k = int(json.load(fh)["clusterer"]["k"])
    names = read_names(names_path, k)
    update_model_meta(run_dir, lambda m: m.setdefault("classes", {}).update(cluster_names=names))
    name_labels(os.path.join(run_dir, "labels.csv"), names)
    return names


def name_labels(path: str, names: list) -> None:
    """Set (or add, after `cluster`) the cluster_name column of a labels.csv."""
    import csv

    from ..atomic import atomic_path

    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or "cluster" not in rows[0]:
        return
    head, c = rows[0], rows[0].index("cluster")
    if "cluster_name" not in head:
        for r in rows:
            r.insert(c + 1, "")
        head[c + 1] = "cluster_name"
    n = head.index("cluster_name")
    for r in rows[1:]:
        j = int(r[c])
        r[n] = (names[j] if 0 <= j < len(names) else None) or ""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
