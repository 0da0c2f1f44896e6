"""What a run's figures cost to draw, and, against another checkout, whether a change kept their pixels.

Every figure of a run (loss, t-SNE map and sizes, confusion matrix, counts over time, one cluster gallery,
new events on the map, K selection) drawn from fixed inputs of a run's sizes (K = 8, 2,000 mapped events,
87 x 100 spectrograms, 2,000-sample traces), each `--repeats` times; the fastest time of each is kept.
With --against, a second source tree (e.g. `git worktree add /tmp/before HEAD~1`) draws the same
figures in alternate rounds, in the same way (the machine's load hits both alike), and every PNG is
compared pixel for pixel with its twin.

    python benchmarks/bench_figures.py [--repeats 4] [--rounds 3] [--against /tmp/before]
                                       [--out benchmarks/results/figures.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def draw(tree: str, png_dir: str, repeats: int) -> dict:
    """Fastest seconds per figure, the figures drawn by the gpuclust of `tree` (run in a child process)."""
    sys.path.insert(0, tree)
    import time

    import numpy as np

    from gpuclust.plots import figures as F
    from gpuclust.plots import gallery as G

    if not os.path.abspath(F.__file__).startswith(os.path.abspath(tree) + os.sep):
        raise SystemExit(f"gpuclust came from {F.__file__}, not from {tree}: use a Python without gpuclust "
                         "installed in editable mode from another tree")
    rng = np.random.default_rng(0)
    k = 8
    hist = [{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.1 / (e + 1)} for e in range(15)]
    xy, lab = rng.standard_normal((2000, 2)), rng.integers(0, k, 2000)
    cat = [{"dt_on": f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00", "station": f"DR{i % 9:02d}"}
           for i in range(2000)]
    imgs, mean, centroid = rng.random((5, 87, 100)), rng.random((87, 100)), rng.random((87, 100))
    traces = rng.standard_normal((5, 2000)) * 1e-6
    counts = rng.integers(0, 50, (8, k))
    sweep = {"rows": [{"k": j, "bic": -j, "aic": -2 * j, "silhouette": 0.1 * j} for j in range(2, 10)],
             "chosen": {"bic": {"k": 5, "runner_up": 6}}, "auto": {"criterion": "bic", "k": 5}}
    figures = {
        "loss": lambda p: F.loss_figure(hist, p),
        "tsne": lambda p: F.tsne_figure(xy, lab, k, p),
        "confusion": lambda p: F.confusion_figure(counts, [f"class {i}" for i in range(8)], p),
        "temporal": lambda p: F.temporal_figure(cat, lab, k, p),
        "gallery": lambda p: G.cluster_gallery(1, k, mean, centroid, imgs, np.arange(5) * 100, np.linspace(0, 1, 5),
                                               traces, np.linspace(3, 20, 87), np.arange(100) * 0.04, 50.0, p),
        "map": lambda p: F.map_figure(xy, lab, xy[:300] + 0.1, lab[:300], lab[:300] == 0, k, p),
        "k_selection": lambda p: F.k_selection_figure(sweep, p),
    }
    best = {}
    for _ in range(repeats):
        for name, fig in figures.items():
            t = time.perf_counter()
            fig(os.path.join(png_dir, f"{name}.png"))
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t)
    return best


def same_pixels(a: str, b: str) -> bool:
    import matplotlib.image as mpimg
    import numpy as np

    x, y = mpimg.imread(a), mpimg.imread(b)
    return x.shape == y.shape and bool(np.array_equal(x, y))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=4, help="draws of each figure a round (the fastest is kept)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, the trees alternating")
    ap.add_argument("--against", help="another source tree (a checkout of the repository) to compare with")
    ap.add_argument("--out", default="benchmarks/results/figures.json")
    ap.add_argument("--child", nargs=2, metavar=("TREE", "PNG_DIR"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.repeats < 1 or a.rounds < 1:
        ap.error("--repeats and --rounds must be at least 1")
    if a.child:
        print(json.dumps(draw(*a.child, a.repeats)))
        return 0
    from gpuclust.atomic import ensure_writable_file, write_json
    from gpuclust.environment import describe
    from gpuclust.errors import GpuclustError

    try:
        ensure_writable_file(a.out, "--out")  # before the drawing, not after it
    except GpuclustError as e:
        ap.error(str(e))
    trees = {"this tree": ROOT}
    if a.against:
        if not os.path.isdir(os.path.join(a.against, "gpuclust", "plots")):
            ap.error(f"--against {a.against}: no gpuclust/plots there (give a checkout of this repository)")
        trees["against"] = os.path.abspath(a.against)

    best: dict = {name: {} for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name, tree in trees.items():
                png = os.path.join(tmp, name.replace(" ", "-"))
                os.makedirs(png, exist_ok=True)
                cmd = [sys.executable, os.path.abspath(__file__), "--child", tree, png, "--repeats", str(a.repeats)]
                done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)  # draw() puts `tree` first
                if done.returncode:
                    sys.exit(f"bench_figures: drawing with {tree} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
                for fig, s in json.loads(done.stdout).items():
                    best[name][fig] = min(best[name].get(fig, float("inf")), s)
            print(f"round {r + 1}: " + "; ".join(f"{n} {sum(b.values()):.2f} s" for n, b in best.items()), flush=True)
        doc = {"environment": describe("cpu"), "repeats": a.repeats, "rounds": a.rounds,
               "seconds": {n: {f: round(s, 4) for f, s in b.items()} for n, b in best.items()},
               "total_seconds": {n: round(sum(b.values()), 4) for n, b in best.items()}}
        if a.against:
            figs = sorted(best["this tree"])
            doc["against"] = a.against
            doc["same_pixels"] = {f: same_pixels(os.path.join(tmp, "this-tree", f"{f}.png"),
                                                 os.path.join(tmp, "against", f"{f}.png")) for f in figs}
            doc["speedup"] = {f: round(best["against"][f] / best["this tree"][f], 3) for f in figs}
            doc["speedup"]["all"] = round(doc["total_seconds"]["against"] / doc["total_seconds"]["this tree"], 3)
    for fig in sorted(best["this tree"]):
        line = f"{fig:>12}: " + "  ".join(f"{n} {b[fig]:.3f} s" for n, b in best.items())
        if a.against:
            line += f"  x{doc['speedup'][fig]:.2f}" + ("  same pixels" if doc["same_pixels"][fig] else "  PIXELS DIFFER")
        print(line)
    write_json(a.out, doc)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
