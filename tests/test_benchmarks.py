"""The benchmark scripts run as users run them (at a tiny size here; the real sizes are in benchmarks/)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_quality_runs_and_reports_mean_and_spread(tmp_path):
    out = tmp_path / "q.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_quality.py"), "--rows", "240",
                        "--seeds", "0,1", "--epochs", "1", "--only", "default,reference,pca,ceiling,oracle",
                        "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.load(open(out))
    assert doc["seeds"] == [0, 1] and doc["scored_on"].startswith("all rows")
    for name in ("default", "reference", "PCA-9 of log + mixture", "ceiling: CNN trained with the labels"):
        s = doc["results"][name]
        assert len(s["nmi"]["per_seed"]) == 2 and 0 <= s["nmi"]["mean"] <= 1 and s["ari"]["sd"] >= 0
    assert "oracle: one Gaussian per class on the default's latents" in doc["results"]
