"""`gpuclust run` end to end on a tiny configuration, resume, config files, bad options, report, bench."""
import csv
import json
import os
import re

import pytest
import torch
from click.testing import CliRunner

from gpuclust_cli.commands import cli

pytestmark = pytest.mark.slow  # whole runs, trained and clustered end to end

TINY = ["--synth-rows", "400", "--epochs", "2", "--k", "4", "--tsne-max-points", "200", "--n-init", "1",
        "--batch-size", "32", "--refine-epochs", "2", "--device", "cpu", "-q"]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """The built-in dataset is generated once per module into a private cache, never into ~/.cache.

    Every run here trains on two threads: by default gpuclust takes the cores that are free, and runs
    compared with each other (one process against Dask) must not train on different thread counts
    because the machine was busier for one of them (that changes the floating-point sums, and labels).
    """
    mp = pytest.MonkeyPatch()
    mp.setenv("GPUCLUST_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("GPUCLUST_THREADS", "2")
    yield
    mp.undo()


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, cache):
    root = tmp_path_factory.mktemp("run")
    r = CliRunner().invoke(cli, ["run", *TINY, "-o", str(root / "out")])
    assert r.exit_code == 0, r.output
    return root / "out", r.output


def test_default_run_produces_everything_a_user_needs(tiny_run):
    out, output = tiny_run
    for name in ("config.json", "environment.json", "splits.npz", "checkpoints/best.pt", "checkpoints/last.pt",
                 "latents.h5", "labels.csv", "metrics.json", "tsne.csv", "tsne.png", "loss.png", "confusion.png",
                 "temporal.png", "report.html", "gallery/cluster00.png", "cluster_stability.csv"):
        assert (out / name).exists(), name
    m = json.load(open(out / "metrics.json"))
    rows = list(csv.DictReader(open(out / "labels.csv")))
    from sklearn.metrics import adjusted_rand_score

    # the ARI reported is that of the labels written, and better than chance even after two epochs
    assert m["k"] == 4 and m["n"] == 400 and "nmi" in m and "accuracy" in m
    assert m["ari"] == pytest.approx(adjusted_rand_score([r["true_class"] for r in rows], [r["cluster"] for r in rows]))
    assert m["ari"] > 0.05 and {r["cluster"] for r in rows} <= {"0", "1", "2", "3"}
    assert len(rows) == 400 and {"row", "cluster", "station", "dt_on", "true_class"} <= set(rows[0])
    stab = m["cluster_stability"]
    assert len(stab["per_cluster"]) == 4 and all(0 <= j <= 1 for j in stab["per_cluster"])
    written = list(csv.DictReader(open(out / "cluster_stability.csv")))
    assert [float(r["stability"]) for r in written] == sorted((round(j, 4) for j in stab["per_cluster"]), reverse=True)
    assert sorted(int(r["row"]) for r in rows) == list(range(400))
    assert "ARI" in output and "report:" in output and "seconds per stage" in output
    assert not list(out.rglob("*.tmp"))


def test_report_is_self_contained_and_shows_every_cluster(tiny_run):
    out, _ = tiny_run
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 6
    assert "<th>stability</th>" in html and "most stable first" in html
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html)  # links nothing outside itself
    sizes = json.load(open(out / "metrics.json"))["cluster_sizes"]
    for j in range(4):  # every cluster has its gallery, or the report says it has no events
        assert (f"cluster{j:02d}.png" in html) == (sizes[j] > 0)
        assert (f"cluster {j:02d}" in html.split("No event is assigned to")[-1].split("</p>")[0]) == (sizes[j] == 0)
    r = invoke("report", out)
    assert r.exit_code == 0 and "report.html" in r.output


def test_resume_skips_finished_stages(tiny_run):
    out, _ = tiny_run
    r = invoke("run", *TINY, "-o", out, "--resume")
    assert r.exit_code == 0, r.output
    for stage in ("data", "train", "embed", "cluster", "tsne", "figures"):
        assert f"[{stage}] already complete, skipped" in r.output


def test_resume_rebuilds_a_deleted_model_and_best_checkpoint(tiny_run, tmp_path):
    """Regression: with model/ deleted, --resume said every stage was complete, exit 0, and left no model
    (predict's advice was that very command); a deleted best.pt was not written again either."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(tiny_run[0], out)
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    shutil.rmtree(out / "model")
    os.remove(out / "checkpoints" / "best.pt")
    r = invoke("run", *TINY, "-o", out, "--resume")
    assert r.exit_code == 0, r.output
    assert "[train] ..." in r.output and "[cluster] ..." in r.output and "[embed] already complete" in r.output
    assert (out / "model" / "model.json").exists()
    again = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert again["epoch"] == best["epoch"] and all(torch.equal(again["model"][k], v) for k, v in best["model"].items())
    assert (out / "labels.csv").read_bytes() == (tiny_run[0] / "labels.csv").read_bytes()


def test_changed_option_reruns_only_what_depends_on_it(tiny_run, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(tiny_run[0], out)
    r = invoke("run", *[a if a != "4" else "3" for a in TINY], "-o", out, "--resume")
    assert r.exit_code == 0, r.output
    assert "[train] already complete, skipped" in r.output and "[cluster] ..." in r.output
    assert json.load(open(out / "metrics.json"))["k"] == 3


def test_interrupted_run_resumes_and_finishes(tmp_path, monkeypatch):
    """The resumed run's t-SNE and figures read the latents and labels back from the files the first one wrote."""
    from dataclasses import replace

    from gpuclust.pipeline import run as run_mod

    def boom(ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "STAGES", tuple(replace(s, run=boom) if s.name == "tsne" else s
                                                 for s in run_mod.STAGES))
    r = invoke("run", *TINY, "-o", tmp_path / "out")
    assert r.exit_code == 130 and "interrupted" in r.output
    assert (tmp_path / "out" / "labels.csv").exists() and not (tmp_path / "out" / "tsne.csv").exists()
    monkeypatch.undo()
    r = invoke("run", *TINY, "-o", tmp_path / "out", "--resume")
    assert r.exit_code == 0, r.output
    assert "[cluster] already complete, skipped" in r.output and (tmp_path / "out" / "report.html").exists()


def test_config_file_and_command_line_override(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('synth_rows = 300\nepochs = 1\nk = 5\nmethod = "kmeans"\ntsne_max_points = 100\n'
                   'n_init = 1\nquiet = true\n')
    r = invoke("run", "--config", cfg, "--k", "3", "--device", "cpu", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    m = json.load(open(tmp_path / "out" / "metrics.json"))
    assert m["k"] == 3 and m["method"] == "kmeans" and m["n"] == 300
    conf = json.load(open(tmp_path / "out" / "config.json"))
    assert conf["epochs"] == 1 and conf["k"] == 3
    y = tmp_path / "run.yaml"
    y.write_text("synth_rows: 300\nbogus: 1\n")
    r = invoke("run", "--config", y, "-o", tmp_path / "out2")
    assert r.exit_code == 2 and "unknown config option(s): bogus" in r.output


@pytest.mark.parametrize("args, message", [
    (["--k", "many"], "k must be a whole number or 'auto'"),
    (["--k", "0"], "k must be at least 1"),
    (["--lr", "-1"], "--lr"),
    (["--config", "missing.toml"], "no such config file"),
    (["/no/such/file.h5"], "no such file"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, message):
    r = invoke("run", *args, "-o", tmp_path / "out", "--device", "cpu")
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output


def test_existing_run_directory_needs_resume(tiny_run):
    r = invoke("run", *TINY, "-o", tiny_run[0])
    assert r.exit_code == 2 and "--resume" in r.output


def test_k_larger_than_data(tmp_path):
    r = invoke("run", "--synth-rows", "40", "--epochs", "1", "--k", "50", "-q", "--device", "cpu",
               "-o", tmp_path / "o")
    assert r.exit_code == 2 and "K = 50" in r.output


def test_bench_small_on_cpu(tmp_path):
    r = invoke("bench", "--sizes", "500,1000", "--iters", "2", "--repeats", "1", "--tsne-size", "0",
               "-o", tmp_path / "b")
    assert r.exit_code == 0, r.output
    res = json.load(open(tmp_path / "b" / "bench.json"))
    assert [row["n"] for row in res["rows"]] == [500, 1000]
    row = res["rows"][0]  # the ratio is scikit-learn's best time over gpuclust's, both measured in this run
    assert row["ratio_numpy_float64_vs_sklearn"] == pytest.approx(row["sklearn_gmm_best_s"]
                                                                  / row["gpuclust_gmm_numpy_float64_s"])
    assert (tmp_path / "b" / "bench.png").exists() and "sk GMM" in r.output  # the scikit-learn column
    if "gpu" in res["empty_columns"]:
        assert "no CUDA GPU" in r.output


def test_train_embed_cluster_tsne_chain(tmp_path):
    from gpuclust.pipeline.stages import default_data_path

    out = tmp_path / "t"
    r = invoke("train", "--synth-rows", "400", "--epochs", "1", "-q", "--device", "cpu", "-o", out)
    assert r.exit_code == 0, r.output
    assert (out / "checkpoints" / "best.pt").exists() and (out / "loss.png").exists()
    data = default_data_path(400, 0)
    r = invoke("embed", out / "checkpoints" / "best.pt", data, "-o", out / "lat.h5", "--device", "cpu")
    assert r.exit_code == 0 and "wrote 400 latents of 12 dims" in r.output, r.output
    assert "(--norm log-aligned)" in r.output  # the run's own normalisation, read from its config.json
    r = invoke("cluster", out / "lat.h5", "-k", "3", "-o", out / "c", "--device", "cpu")
    assert r.exit_code == 0, r.output
    r = invoke("tsne", out / "lat.h5", "--labels", out / "c" / "labels.csv", "-o", out / "ts", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert len((out / "ts" / "tsne.csv").read_text().splitlines()) == 401


def test_embed_refuses_a_checkpoint_for_other_image_sizes(tmp_path):
    from gpuclust.models import AutoEncoder
    from gpuclust.training.checkpoint import save_checkpoint
    from tests.conftest import make_ris_file

    m = AutoEncoder((64, 64))
    save_checkpoint(tmp_path / "m.pt", {"config": m.config, "model": m.state_dict()})
    make_ris_file(tmp_path / "d.h5", m=10)
    r = invoke("embed", tmp_path / "m.pt", tmp_path / "d.h5", "-o", tmp_path / "l.h5", "--device", "cpu")
    assert r.exit_code == 2 and "not inside a run directory" in r.output and "--norm" in r.output  # which norm?
    r = invoke("embed", tmp_path / "m.pt", tmp_path / "d.h5", "-o", tmp_path / "l.h5", "--device", "cpu",
               "--norm", "log")
    assert r.exit_code == 2 and "model takes [64, 64] images" in r.output


def test_dask_local_run_gives_the_same_labels_as_one_process(tiny_run, tmp_path):
    """Encoding on the workers and the partitioned mixture reproduce the one-process run."""
    r = invoke("run", *TINY, "--dask", "local", "--dask-workers", "2", "-o", tmp_path / "d")
    assert r.exit_code == 0, r.output
    assert "Dask: 2 worker(s)" in r.output
    one = [(row["row"], row["cluster"]) for row in csv.DictReader(open(tiny_run[0] / "labels.csv"))]
    dist = [(row["row"], row["cluster"]) for row in csv.DictReader(open(tmp_path / "d" / "labels.csv"))]
    assert one == dist
    assert json.load(open(tmp_path / "d" / "metrics.json"))["dask_workers"] == 2


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    r = invoke("run", *TINY, "--dask", "tcp://127.0.0.1:9", "-o", tmp_path / "x")
    assert r.exit_code == 2 and "cannot reach the Dask scheduler" in r.output


def test_k_auto_chooses_k_from_a_sweep(tiny_run, tmp_path):
    import shutil

    out = tmp_path / "auto"
    shutil.copytree(tiny_run[0], out)
    r = invoke("run", *[a if a != "4" else "auto" for a in TINY], "--k-max", "5", "-o", out, "--resume")
    assert r.exit_code == 0, r.output
    assert "chosen automatically" in r.output and (out / "k_selection.png").exists()
    sel = json.load(open(out / "k_selection.json"))
    suggested = sel["auto"]["k"]
    assert sel["auto"]["k"] == sel["chosen"][sel["auto"]["criterion"]]["k"]
    assert {"bic", "stability", "stability_ari", "entropy"} <= set(sel["chosen"])
    assert "<h2>Choosing K</h2>" in (out / "report.html").read_text()
    assert json.load(open(out / "metrics.json"))["k"] == suggested  # the run clusters with the sweep's choice
    assert max(int(r["cluster"]) for r in csv.DictReader(open(out / "labels.csv"))) < suggested


def test_compare_two_runs_on_one_page(tiny_run, tmp_path):
    import shutil

    other = tmp_path / "kmeans"
    shutil.copytree(tiny_run[0], other)
    r = invoke("run", *TINY, "--method", "kmeans", "-o", other, "--resume")
    assert r.exit_code == 0, r.output
    r = invoke("compare", tiny_run[0], other, "-o", tmp_path / "c.html")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "c.html").read_text()
    assert "gmm" in page and "kmeans" in page and page.count("data:image/png;base64,") == 2
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    r = invoke("compare", tmp_path / "nothing", "-o", tmp_path / "d.html")
    assert r.exit_code == 2 and "no metrics.json" in r.output


def test_unet_with_dec_runs_end_to_end(tmp_path):
    r = invoke("run", *TINY, "--model", "unet", "--unet-skips", "no_full", "--epochs", "1", "--dec",
               "--dec-epochs", "1", "--objective", "reconstruction", "-o", tmp_path / "u")
    assert r.exit_code == 0, r.output
    out = tmp_path / "u"
    assert (out / "checkpoints" / "encoder_dec.pt").exists() and (out / "dec_history.json").exists()
    assert json.load(open(out / "config.json"))["model"] == "unet"
    assert (out / "gallery").is_dir() and (out / "report.html").exists()
