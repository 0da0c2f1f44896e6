"""`gpuclust cluster` and `gpuclust select-k` on a latent file."""
import csv
import json

import numpy as np
from click.testing import CliRunner
from sklearn.datasets import make_blobs

from gpuclust_cli.commands import cli
from gpuclust.latents import Latents, save_latents


def latent_file(tmp_path, n=600):
    z, y = make_blobs(n, 4, centers=3, random_state=0)
    path = tmp_path / "lat.h5"
    save_latents(path, Latents(z.astype(np.float32), np.arange(n) * 2 + 1, y))
    return path


def test_cluster_writes_labels_with_row_index_and_metrics(tmp_path):
    lat = latent_file(tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["cluster", str(lat), "--k", "3", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert [int(r["row"]) for r in rows[:3]] == [1, 3, 5]  # original rows, not positions
    assert {"cluster", "probability", "p0", "p2", "true_class"} <= set(rows[0])
    m = json.load(open(out / "metrics.json"))
    assert m["ari"] > 0.99 and m["k"] == 3 and len(m["cluster_sizes"]) == 3


def test_cluster_k_larger_than_data_is_a_clear_error(tmp_path):
    lat = latent_file(tmp_path, n=5)
    r = CliRunner().invoke(cli, ["cluster", str(lat), "--k", "8", "--method", "kmeans", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "only 5 samples" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o" / "labels.csv").exists()


def test_select_k_writes_table_plot_and_suggestion(tmp_path):
    lat = latent_file(tmp_path)
    out = tmp_path / "k"
    r = CliRunner().invoke(cli, ["select-k", str(lat), "--k-min", "2", "--k-max", "5", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "suggested K = 3" in r.output and "stability: K = 3" in r.output and "entropy: K =" in r.output
    assert (out / "k_selection.png").stat().st_size > 10_000
    assert len(json.load(open(out / "k_selection.json"))["rows"]) == 4


def test_select_k_asks_only_for_ks_its_stability_check_can_fit_and_its_advice_works(tmp_path):
    """Regression: select-k's own advice (--k-max N - 1) ended in an internal error: its stability criterion
    fits each K on half of the latents (n_samples=150 should be >= n_clusters=151)."""
    lat = latent_file(tmp_path, n=20)
    r = CliRunner().invoke(cli, ["select-k", str(lat), "--k-max", "11", "--method", "kmeans", "-o",
                                 str(tmp_path / "a"), "--device", "cpu"])
    assert r.exit_code == 2 and "use --k-max 10 or more data" in r.output and "half" in r.output, r.output
    r = CliRunner().invoke(cli, ["select-k", str(lat), "--k-max", "10", "--method", "kmeans", "-o",
                                 str(tmp_path / "b"), "--device", "cpu"])
    assert r.exit_code == 0, r.output


def test_tsne_refuses_labels_that_cover_only_some_of_its_points_before_mapping(tmp_path):
    """Regression: labels.csv of another, smaller run ended in an internal error after the map was computed."""
    lat = latent_file(tmp_path, n=60)
    labels = tmp_path / "labels.csv"
    labels.write_text("row,cluster\n" + "".join(f"{2 * i + 1},{i % 3}\n" for i in range(40)))
    r = CliRunner().invoke(cli, ["tsne", str(lat), "--labels", str(labels), "-o", str(tmp_path / "t"),
                                 "--device", "cpu"])
    assert r.exit_code == 2 and "20 of the 60 points mapped have no label there (row 81" in r.output, r.output
    assert not (tmp_path / "t").exists()
