"""Figures are readable at a glance: titles, labelled axes with units, every cluster in the legend."""
import numpy as np
import pytest

from gpuclust.plots import figures, gallery


@pytest.fixture
def captured(monkeypatch):
    figs = []
    monkeypatch.setattr(figures, "save", lambda fig, path: figs.append(fig))
    monkeypatch.setattr(gallery, "save", lambda fig, path, **kw: figs.append(fig))
    return figs


def labelled(ax):
    return ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_tsne_map_shows_every_cluster_and_sizes(captured):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 300)
    figures.tsne_figure(rng.normal(size=(300, 2)), labels, 6, "x.png")
    a, b = captured[0].axes
    assert labelled(a) and labelled(b)
    assert [t.get_text() for t in a.get_legend().get_texts()] == [f"cluster {j}" for j in range(6)]
    assert [p.get_height() for p in b.patches] == np.bincount(labels, minlength=6).tolist()


def test_loss_confusion_kselection_have_labelled_axes(captured):
    figures.loss_figure([{"epoch": 1, "train_loss": 2.0, "val_loss": 2.5}, {"epoch": 2, "train_loss": 1.0,
                                                                            "val_loss": 1.2}], "l.png")
    figures.confusion_figure(np.array([[5, 1], [0, 7]]), ["quake", "noise"], "c.png")
    res = {"rows": [{"k": k, "bic": 10.0 - k, "aic": 9.0 - k} for k in (2, 3, 4)],
           "suggestion": {"gmm": {"k": 4, "why": "lowest BIC"}}}
    figures.k_selection_figure(res, "k.png")
    res["rows"] = [{**r, "instability": 0.1 * k, "instability_sd": 0.01, "stability_ari": 1 - 0.1 * k}
                   for k, r in zip((2, 3, 4), res["rows"])]
    res.update(entropy={"entropy": [0.0, 1.0, 9.0, 20.0], "k": 2},
               chosen={"bic": {"k": 4, "runner_up": 3, "why": ""}, "stability": {"k": 2, "runner_up": 3, "why": ""}})
    figures.k_selection_figure(res, "k2.png")
    loss, conf, ks, ks2 = captured
    assert len(ks2.axes) == 5 and all(labelled(ax) for ax in ks2.axes)
    bic_lines = [ln.get_xdata()[0] for ln in ks2.axes[0].get_lines() if ln.get_linestyle() in (":", "--")]
    assert sorted(bic_lines) == [3, 4]  # the choice and the runner-up
    assert labelled(loss.axes[0]) and "loss" in loss.axes[0].get_ylabel()
    assert labelled(conf.axes[0]) and [t.get_text() for t in conf.axes[0].get_yticklabels()] == ["quake", "noise"]
    assert all(labelled(ax) for ax in ks.axes)


def test_gallery_axes_carry_units(captured):
    img = np.random.default_rng(1).random((87, 100))
    freqs, times = np.linspace(3.125, 19.92, 87), np.arange(100) * 0.04
    gallery.cluster_gallery(0, 3, img, img, [img, img], [5, 9], [0.1, 0.7], np.zeros((2, 199)), freqs, times,
                            50.0, "g.png")
    axes = [ax for ax in captured[0].axes if ax.axison]
    assert any(ax.get_ylabel() == "frequency (Hz)" and ax.get_xlabel() == "time (s)" for ax in axes)
    assert any("velocity" in ax.get_ylabel() for ax in axes)
    assert "row 9" in " ".join(ax.get_title() for ax in axes)


@pytest.mark.parametrize("n_examples,traces", [(5, True), (1, True), (5, False), (1, False)])
def test_the_galleries_fixed_layout_crops_and_overlaps_nothing(captured, n_examples, traces):
    """The gallery's layout is set in inches, not measured from its text: every label must still lie inside
    the figure, and no panel's labels may run into its neighbour's, whatever the number of columns."""
    img = np.random.default_rng(1).random((87, 100))
    freqs, times = np.linspace(0.1, 25.0, 87), np.linspace(0, 60, 100)
    tr = np.random.default_rng(2).normal(scale=3e-6, size=(n_examples, 3000)) if traces else None
    gallery.cluster_gallery(11, 12, img, img, [img] * n_examples, list(range(100000, 100000 + n_examples)),
                            [12.34] * n_examples, tr, freqs, times, 50.0, "g.png")
    fig = captured[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]  # each panel with the labels and ticks it draws
    for box in [*boxes, fig._suptitle.get_window_extent(renderer)]:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, box
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            overlap_w = min(boxes[a].x1, boxes[b].x1) - max(boxes[a].x0, boxes[b].x0)
            overlap_h = min(boxes[a].y1, boxes[b].y1) - max(boxes[a].y0, boxes[b].y0)
            assert overlap_w <= 0 or overlap_h <= 0, (fig.axes[a].get_title(), fig.axes[b].get_title())


def test_bench_figures_draws_every_figure_and_the_same_tree_gives_the_same_pixels(tmp_path):
    """The comparison benchmarks/bench_figures.py makes of two checkouts, made of this one with itself."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "f.json"
    r = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "bench_figures.py"), "--repeats", "1",
                        "--rounds", "1", "--against", root, "--out", str(out)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.read_text())
    names = {"loss", "tsne", "confusion", "temporal", "gallery", "map", "k_selection"}
    assert set(doc["seconds"]["this tree"]) == set(doc["same_pixels"]) == names
    assert all(doc["same_pixels"].values()) and all(s > 0 for s in doc["seconds"]["against"].values())
    r = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "bench_figures.py"), "--against",
                        str(tmp_path), "--out", str(tmp_path / "g.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no gpuclust/plots there" in r.stderr and not (tmp_path / "g.json").exists()
