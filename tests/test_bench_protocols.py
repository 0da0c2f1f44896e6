"""The benchmarks' protocols without training: bench_quality --eval's table, bench_novelty's calibrated ranks."""
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    return _script("bench_quality")


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


def test_novelty_ranks_are_training_percentiles_and_the_combined_score_flags_either_tail():
    import numpy as np

    nov = _script("bench_novelty")
    train = np.arange(100.0)
    assert list(nov.ranks(train, np.array([-1.0, 0.0, 49.5, 99.0]))) == [0.0, 0.01, 0.5, 1.0]
    # an event typical for one score and atypical for the other is atypical for the combination
    train_c, later_c = nov.combined((train, np.array([99.0, 0.5, 60.0])), (-train, np.array([-99.0, -0.5, -40.0])))
    assert list(later_c) == [0.01, 0.01, 0.6]
    assert np.percentile(train_c, 1) < 0.02 and train_c.max() == pytest.approx(0.5)


def test_fisher_counts_an_event_atypical_in_both_ways_and_rescore_rebuilds_the_cells_from_a_dump(tmp_path):
    import numpy as np

    nov = _script("bench_novelty")
    ref = np.arange(100.0)
    # at the 10th percentile of both scores, against the 50th of one and the 2nd of the other
    _, later = nov.fisher((ref, np.array([10.0, 50.0])), (ref, np.array([10.0, 2.0])))
    assert later[0] < later[1]
    rng = np.random.default_rng(0)
    parts = {k: (rng.normal(size=500), np.concatenate([rng.normal(size=80), rng.normal(-4, 1, 20)]))
             for k in nov.COMPONENTS}
    held = np.arange(100) >= 80
    np.savez(tmp_path / "swell-7.npz", held_out=held, **{f"{k}|{p}": v for k, pair in parts.items()
                                                         for p, v in zip(("reference", "later"), pair)})
    out = tmp_path / "n.json"
    out.write_text(json.dumps({"results": [{"held_out": "swell", "seed": 7, "detected_at_1pct": 0.5,
                                            "false_alarms_at_1pct": 0.0, "detected_at_5pct": 0.6,
                                            "false_alarms_at_5pct": 0.1}]}))
    assert nov.main(["--rescore", str(tmp_path), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    cells = doc["results"][0]["scores"]
    assert set(cells) == set(nov.SCORES)
    t = np.percentile(parts["default"][0], 1)
    assert cells["default"]["detected_at_1pct"] == float((parts["default"][1][held] < t).mean())
    assert doc["summary"]["swell"]["fisher (held-out)"]["detected_at_1pct"]["mean"] == \
        cells["fisher (held-out)"]["detected_at_1pct"]


def test_the_readme_heldout_table_has_every_seed_measured_and_says_which_are_missing(bench, tmp_path):
    doc = json.load(open(os.path.join(ROOT, "benchmarks", "results", "quality-heldout.json")))
    table = bench.heldout_table(doc).splitlines()
    rows = {line.split(" | ")[0].strip("| *"): line for line in table[2:]}
    for seed in doc["seeds_measured"]:
        d = doc["per_seed_runs"][str(seed)]["default"]
        assert f"| {d['nmi']:.3f} | {d['ari']:.3f} | {d['accuracy']:.3f} |" in rows[str(seed)]
    assert all("not measured" in rows[str(s)] for s in doc["seeds_missing"])
    assert f"{doc['default']['nmi']['mean']:.3f} ± {doc['default']['nmi']['sd']:.3f}" in rows["mean ± sd"]
    assert rows["worst seed"].startswith(f"| worst seed | {doc['default']['nmi']['worst']:.3f} |")
