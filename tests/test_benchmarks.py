"""The benchmark scripts run as users run them (at a tiny size here; the real sizes are in benchmarks/)."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # the benchmark scripts, run as users run them

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_quality_runs_and_reports_mean_and_spread(tmp_path):
    out = tmp_path / "q.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_quality.py"), "--rows", "240",
                        "--seeds", "0,1", "--epochs", "1", "--only", "default,reference,pca,ceiling,oracle",
                        "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.load(open(out))
    assert doc["seeds"] == [0, 1] and doc["scored_on"].startswith("all rows")
    ceilings = [f"ceiling: CNN trained with the labels, {norm} input" for norm in ("log", "log-aligned")]
    for name in ("default", "reference", "PCA-9 of log + mixture", "PCA-16 of log-aligned + mixture", *ceilings):
        s = doc["results"][name]
        for metric in ("nmi", "ari"):  # mean and spread are those of the seeds measured
            per_seed = s[metric]["per_seed"]
            assert len(per_seed) == 2 and s[metric]["mean"] == pytest.approx(sum(per_seed) / 2)
            assert s[metric]["sd"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2)
    assert "oracle: one Gaussian per class on the default's latents" in doc["results"]
    # --merge re-measures some rows and keeps the others; a file of another size is refused
    before = doc["results"]["default"]
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "bench_quality.py"), "--rows", "240", "--seeds", "0,1",
           "--epochs", "1", "--only", "reference", "--merge", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    merged = json.load(open(out))
    assert merged["results"]["default"] == before and merged["merged"][0]["rows_measured"] == ["reference"]
    assert len(merged["per_seed"]["reference"]) == 2
    r = subprocess.run([*cmd[:3], "250", *cmd[4:]], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode != 0 and "cannot merge" in r.stderr


def test_bench_novelty_and_bench_scenario_run_at_a_tiny_size(tmp_path):
    script = os.path.join(ROOT, "benchmarks", "bench_novelty.py")
    r = subprocess.run([sys.executable, script, "--rows", "400", "--predict-rows", "300", "--epochs", "1",
                        "--classes", "swell_low_frequency", "--alternatives", "--set", "refine_epochs=1",
                        "--out", str(tmp_path / "n.json")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.load(open(tmp_path / "n.json"))
    (row,) = doc["results"]
    assert row["held_out"] == "swell_low_frequency" and 0 <= row["false_alarms_at_1pct"] <= 1
    assert doc["complete"] and doc["seeds"] == [0] and row["seed"] == 0  # one seed: the summary is that run
    cell = doc["summary"]["swell_low_frequency"]["default"]["detected_at_1pct"]
    assert cell["mean"] == cell["min"] == cell["max"] == row["detected_at_1pct"]
    assert row["false_alarms_at_1pct"] <= row["false_alarms_at_2pct"] <= row["false_alarms_at_5pct"]
    assert set(row["scores"]) == {"default", "reconstruction", "pre-refinement", "combined", "fisher",
                                  "default (held-out)", "reconstruction (held-out)", "combined (held-out)",
                                  "fisher (held-out)"}
    # the default score recalibrated from labels.csv flags what the run's model flags (up to its 4 decimals)
    assert row["scores"]["default"]["detected_at_1pct"] == pytest.approx(row["detected_at_1pct"], abs=0.02)
    for cell in row["scores"].values():
        assert cell["false_alarms_at_1pct"] <= cell["false_alarms_at_5pct"]
    script = os.path.join(ROOT, "benchmarks", "bench_scenario.py")
    r = subprocess.run([sys.executable, script, "--rows", "400", "--epochs", "1", "--set", "refine_epochs=1",
                        "--out-dir", str(tmp_path / "s")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.load(open(tmp_path / "s" / "scenario.json"))
    assert doc["run_options"] == {"refine_epochs": "1"}  # --set reached the runs' configuration
    assert set(doc["whole_timeline"]) == {"K=8", "K=12"} and doc["select_k"]["true_classes"] == 12
    went = doc["first_half_predicts_second"]["where_classes_went"]
    assert all(0 < w["share_of_class"] <= 1 for w in went.values())
    assert "calving" in doc["first_half_predicts_second"]["unknown_by_class"]
    assert (tmp_path / "s" / "second-half-temporal.png").exists()


def test_bench_select_k_scores_every_criterion_and_writes_the_readme_table(tmp_path):
    import numpy as np
    from sklearn.datasets import make_blobs

    from gpuclust.latents import Latents
    from gpuclust.latents.io import save_latents

    for ds, k in (("benchmark", 8), ("deployment", 12)):
        z, y = make_blobs(300, 3, centers=k, cluster_std=0.3, center_box=(-20, 20), random_state=1)
        save_latents(tmp_path / f"{ds}-0.h5", Latents(z.astype("float32"), np.arange(300), y))
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- select_k table: begin -->\nold\n<!-- select_k table: end -->\nafter\n")
    out = tmp_path / "sel.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_select_k.py"), "--latents",
                        str(tmp_path / "{dataset}-{seed}.h5"), "--seeds", "0", "--sizes", "300", "--k-min", "7",
                        "--k-max", "13", "--n-refs", "1", "--splits", "1", "--out", str(out), "--readme", str(readme)],
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    res = json.load(open(out))
    assert {c["dataset"] for c in res["cases"]} == {"benchmark", "deployment"}
    assert set(res["cases"][0]["chosen"]) == set(res["criteria"])
    assert res["summary"]["bic"]["benchmark"]["hits"] == 1  # well-separated blobs: BIC finds them
    text = readme.read_text()
    assert "old" not in text and text.startswith("before\n") and text.endswith("after\n")
    assert "| bic | 8 | 1 of 1 | 12 | 1 of 1 |" in text


def test_bench_scale_records_seconds_and_memory_per_stage_and_exponents(tmp_path):
    out = tmp_path / "scale.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_scale.py"), "--sizes", "120,200",
                        "--train-rows", "200:120", "--threads", "2", "--work", str(tmp_path / "w"), "--out", str(out),
                        "--run-args", "--k 3 --n-init 1 --batch-size 32 --tsne-max-points 60"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert not res["not_measured"], res["not_measured"]
    assert [s["n"] for s in res["sizes"]] == [120, 200] and res["sizes"][1]["train_rows"] == 120
    for s in res["sizes"]:
        st = s["run"]["stages"]
        assert {"data", "train", "refine", "embed", "cluster", "tsne", "figures", "report"} <= set(st)
        assert all(v["seconds"] > 0 for k, v in st.items() if k != "report")
        # the per-stage peaks were sampled while the stage ran, and none exceeds the whole run's
        assert st["train"]["peak_rss_mb"] > 100 and st["embed"]["peak_rss_mb"] > 100
        assert max(v["peak_rss_mb"] or 0 for v in st.values()) <= s["run"]["peak_rss_mb"]
        assert s["explore"]["seconds"] > 0 and s["explore"]["peak_rss_mb"] > 0
    (exp,) = res["exponents"]
    assert exp["from"] == 120 and exp["to"] == 200 and isinstance(exp["stages"]["embed"], float)
    assert exp["stages"]["refine"] is not None  # both trained on 120 rows: comparable
    assert res["predict"]["n"] == 200 and res["predict"]["format"] == "quakeml"
    assert res["machine"]["cores"] and "load average" in res["uptime_before"]
    # --readme rewrites only the table between its markers, one row per size and one per pair of sizes
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- scale table: begin -->\nold\n<!-- scale table: end -->\nb\n")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_scale.py"), "--out", str(out),
                        "--readme", str(readme)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    text = readme.read_text()
    assert text.startswith("a\n") and text.endswith("b\n") and "old" not in text
    assert "| 120 (120) |" in text and "| 200 (120) |" in text and "| exponent 120 -> 200 |" in text
