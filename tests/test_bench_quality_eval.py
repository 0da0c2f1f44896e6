"""The held-out evaluation's table (bench_quality --eval): spread, worst seed, wins against the baseline, target."""
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_quality", os.path.join(ROOT, "benchmarks", "bench_quality.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_eval_seeds_are_ten_fixed_seeds_apart_from_the_choosing_ones(bench):
    assert bench.EVAL_SEEDS == tuple(range(1000, 1010))
    assert bench.EVAL_BASELINE == {"norm": "log", "dims": 16, "n_init": 5}


def test_summary_reports_mean_spread_worst_and_the_seeds_lost(bench):
    default = [{"nmi": 0.7, "ari": 0.65, "accuracy": 0.8, "seconds": 100},
               {"nmi": 0.6, "ari": 0.50, "accuracy": 0.7, "seconds": 120}]
    baseline = [{"nmi": 0.62, "ari": 0.55, "accuracy": 0.7}, {"nmi": 0.61, "ari": 0.55, "accuracy": 0.7}]
    s = bench.heldout_summary([1000, 1001], default, baseline, {"nmi": 0.64, "ari": 0.6, "accuracy": 0.7})
    assert s["default"]["nmi"]["mean"] == pytest.approx(0.65) and s["default"]["nmi"]["sd"] == pytest.approx(0.05)
    assert s["default"]["ari"]["worst"] == 0.5 and s["default"]["ari"]["worst_seed"] == 1001
    assert s["baseline"]["nmi"]["worst_seed"] == 1001
    assert s["beats_baseline"]["ari"] == {"seeds_won": 1, "of": 2, "lost_on": {"1001": 0.05}}
    assert s["beats_baseline"]["nmi"]["lost_on"] == {"1001": 0.01}
    assert s["target_met"] == {"nmi": True, "ari": False, "accuracy": True, "beats_baseline_on_every_seed": False}


def test_kept_runs_are_reused_and_missing_ones_not_run_when_asked(bench, tmp_path):
    run = tmp_path / "runs" / "default-1000"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"nmi": 0.5, "ari": 0.4, "accuracy": 0.6, "seconds": 1}))
    assert bench.kept_run(str(tmp_path), 6000, 1000, None, run_now=False)["nmi"] == 0.5
    assert bench.kept_run(str(tmp_path), 6000, 1001, None, run_now=False) is None
