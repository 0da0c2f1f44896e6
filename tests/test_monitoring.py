"""Monitoring: a run is a model that labels new detections, flags the unknown and exports catalogues."""
import csv
import json
import os
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from gpuclust_cli.commands import cli

pytestmark = pytest.mark.slow  # whole runs, then predict on them

RUN = ["--epochs", "3", "--k", "6", "--tsne-max-points", "300", "--n-init", "1", "--batch-size", "32",
       "--refine-epochs", "2", "--device", "cpu", "-q"]  # 2 refinement epochs, not 10: 60 % of these runs' time


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from gpuclust.data.synth import write_synthetic

    d = tmp_path_factory.mktemp("monitor")
    write_synthetic(d / "train.h5", 700, seed=11)
    write_synthetic(d / "new.h5", 300, seed=12)
    r = invoke("run", d / "train.h5", *RUN, "-o", d / "run")
    assert r.exit_code == 0, r.output
    return d


def test_the_run_saves_a_model_without_pickle(trained):
    import torch

    m = trained / "run" / "model"
    meta = json.load(open(m / "model.json"))
    assert meta["format"] == "gpuclust-model" and meta["format_version"] == 1
    assert meta["clusterer"]["k"] == 6 and meta["latent"]["scale"] > 0 and meta["data"]["image_shape"] == [87, 100]
    assert meta["novelty"]["percentile"] == 1.0 and meta["tsne"]["file"] == "tsne.npz"
    assert meta["novelty"]["score"].startswith("combined") and "validation and test" in meta["novelty"]["learned_on"]
    state = torch.load(m / "encoder.pt", weights_only=True)
    assert set(state) == {"config", "model"}
    with np.load(m / "clusterer.npz", allow_pickle=False) as z:
        assert {"weights", "means", "covariances", "precisions_cholesky", "score_quantiles", "likelihood_quantiles",
                "reconstruction_quantiles"} <= set(z.files)


def test_predicting_the_runs_own_file_gives_the_runs_labels_exactly(trained, tmp_path):
    r = invoke("predict", trained / "run", trained / "train.h5", "-o", tmp_path / "p")
    assert r.exit_code == 0, r.output
    mine, theirs = rows_of(trained / "run" / "labels.csv"), rows_of(tmp_path / "p" / "labels.csv")
    cols = ("row", "cluster", "unknown", "p0", "log_likelihood", "novelty_score", "reconstruction_error")
    assert [tuple(a[c] for c in cols) for a in mine] == [tuple(b[c] for c in cols) for b in theirs]
    flagged = [float(a["novelty_score"]) < json.load(open(trained / "run" / "metrics.json"))["novelty"]["threshold"]
               for a in mine]
    assert flagged == [a["unknown"] == "1" for a in mine] and 0 < sum(flagged) < len(mine)
    assert {"map.png", "temporal.png", "confusion.png"} <= set(os.listdir(tmp_path / "p"))


def test_predicting_another_file_labels_every_usable_row(trained, tmp_path):
    r = invoke("predict", trained / "run", trained / "new.h5", "-o", tmp_path / "p", "--format", "quakeml")
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path / "p" / "labels.csv")
    assert len(rows) == 300 and {"cluster", "unknown", "log_likelihood", "probability", "station", "dt_peak"} <= set(rows[0])
    m = json.load(open(tmp_path / "p" / "metrics.json"))
    assert m["n"] == 300 and 0 <= m["novelty"]["unknown"] < 300 and "ari" in m and "unknown_by_class" in m


def test_quakeml_reads_back_with_nothing_lost(trained, tmp_path):
    import obspy

    from gpuclust.export import read_labels_from_quakeml

    r = invoke("predict", trained / "run", trained / "new.h5", "-o", tmp_path / "p", "--format", "quakeml")
    assert r.exit_code == 0, r.output
    cat = obspy.read_events(str(tmp_path / "p" / "catalogue.xml"))
    rows = rows_of(tmp_path / "p" / "labels.csv")
    assert len(cat) == len(rows) == 300
    back = read_labels_from_quakeml(tmp_path / "p" / "catalogue.xml")
    for q, row in zip(back, rows):
        assert q["row"] == int(row["row"]) and q["cluster"] == int(row["cluster"])
        assert q["unknown"] == (row["unknown"] == "1")
        assert q["probability"] == pytest.approx(float(row["probability"]), abs=1e-4)
        assert q["stream"] == f"{row['network']}.{row['station']}..{row['channel']}"
        assert q["time"].rstrip("Z").startswith(row["dt_peak"][:19])
    assert {q["event_type"] for q in back} <= {None, "ice quake", "not existing", "other event"}


def test_novelty_flags_a_class_the_run_never_saw(tmp_path):
    """Hold swell out of training, then predict data that has it: it is flagged far more than known classes."""
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import CLASS_NAMES, write_synthetic
    from gpuclust.data.ris_writer import write_subset

    write_synthetic(tmp_path / "all.h5", 1500, seed=4)
    held = CLASS_NAMES.index("swell_low_frequency")
    with open_spectrograms(tmp_path / "all.h5") as sf:
        keep = np.flatnonzero(sf.labels() != held)
    write_subset(tmp_path / "all.h5", tmp_path / "seen.h5", keep)
    r = invoke("run", tmp_path / "seen.h5", *RUN[:3], "8", *RUN[4:], "--norm", "log", "--latent-activation",
               "linear", "--novelty-percentile", "2", "--no-explore", "-o", tmp_path / "run")
    assert r.exit_code == 0, r.output
    write_synthetic(tmp_path / "later.h5", 800, seed=5)
    r = invoke("predict", tmp_path / "run", tmp_path / "later.h5", "-o", tmp_path / "p")
    assert r.exit_code == 0, r.output
    by_class = json.load(open(tmp_path / "p" / "metrics.json"))["unknown_by_class"]
    unseen = by_class["swell_low_frequency"]["flagged_unknown"]
    known = np.mean([v["flagged_unknown"] for k, v in by_class.items() if k != "swell_low_frequency"])
    assert unseen > 0.5 and unseen > 5 * known, by_class


def test_predict_from_waveform_files(trained, tmp_path):
    from tests.test_synth_and_waveforms import real_waveform

    r = invoke("predict", trained / "run", real_waveform(), "-o", tmp_path / "p")
    assert r.exit_code == 0, r.output
    assert "reference parameters" in r.output and "cut" in r.output
    rows = rows_of(tmp_path / "p" / "labels.csv")
    assert len(rows) >= 1 and rows[0]["station"] == "CRLZ"
    assert os.path.exists(tmp_path / "p" / "spectrograms.h5")


def test_a_run_without_ground_truth_and_an_overlay(tmp_path):
    from tests.conftest import make_ris_file

    make_ris_file(tmp_path / "plain.h5", m=120)
    drivers = tmp_path / "temperature.csv"
    drivers.write_text("time,value\n2015-01-01T00:00:00,1.5\n2015-01-01T01:00:00,2.5\n")
    r = invoke("run", tmp_path / "plain.h5", *RUN[:3], "3", *RUN[4:], "--overlay", drivers, "-o", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "ARI" not in r.output and os.path.exists(tmp_path / "run" / "temporal.png")
    r = invoke("predict", tmp_path / "run", tmp_path / "plain.h5", "-o", tmp_path / "p", "--overlay", drivers)
    assert r.exit_code == 0, r.output
    assert "ari" not in json.load(open(tmp_path / "p" / "metrics.json"))


@pytest.mark.parametrize("case", ["no-model", "old-format", "other-size", "other-axis", "all-nan", "empty",
                                  "missing-data", "bad-overlay", "dim-mismatch"])
def test_predict_refuses_what_it_cannot_label(trained, tmp_path, case):
    from tests.conftest import make_ris_file

    run = trained / "run"
    data = trained / "new.h5"
    extra = []
    words = []
    if case == "no-model":
        run = tmp_path / "run"
        shutil.copytree(trained / "run", run, ignore=shutil.ignore_patterns("model"))
        words = ["no saved model"]
    elif case == "old-format":
        run = tmp_path / "run"
        shutil.copytree(trained / "run", run)
        meta = json.load(open(run / "model" / "model.json"))
        meta["format_version"] = 0
        json.dump(meta, open(run / "model" / "model.json", "w"))
        words = ["format version 0"]
    elif case == "other-size":
        data = tmp_path / "small.h5"
        make_ris_file(data, m=20, f=40, t=50)
        words = ["40 x 50", "87 x 100"]
    elif case == "other-axis":
        data = tmp_path / "axis.h5"
        make_ris_file(data, m=20)
        with h5py.File(data, "r+") as h5:
            x = h5["4.0/Spectrogram"][:]
            x[:, :-1, 0] = np.linspace(1, 10, 87)
            h5["4.0/Spectrogram"][...] = x
        words = ["frequency axis"]
    elif case == "all-nan":
        data = tmp_path / "nan.h5"
        make_ris_file(data, m=10, nan_rows=range(10))
        words = ["no usable row"]
    elif case == "empty":
        data = tmp_path / "empty.h5"
        make_ris_file(data, m=1)
        with h5py.File(data, "r+") as h5:
            h5["4.0/Spectrogram"].resize(0, axis=0)
        words = ["empty"]
    elif case == "missing-data":
        data = tmp_path / "none.h5"
        words = ["no such file"]
    elif case == "bad-overlay":
        bad = tmp_path / "o.csv"
        bad.write_text("when,what\nyesterday,warm\n")
        extra = ["--overlay", bad]
        words = ["o.csv", "time,value"]
    elif case == "dim-mismatch":
        run = tmp_path / "run"
        shutil.copytree(trained / "run", run)
        meta = json.load(open(run / "model" / "model.json"))
        meta["latent"]["dim"] = 4
        json.dump(meta, open(run / "model" / "model.json", "w"))
        words = ["latent dimensions"]
    r = invoke("predict", run, data, "-o", tmp_path / "p", *extra)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    for w in words:
        assert w in r.output, r.output
    assert not os.path.exists(tmp_path / "p")  # the directory it made is gone again: nothing left behind


def test_predict_on_dask_labels_partitions_on_the_workers(trained, tmp_path):
    one = invoke("predict", trained / "run", trained / "new.h5", "-o", tmp_path / "one")
    dist = invoke("predict", trained / "run", trained / "new.h5", "-o", tmp_path / "dask", "--dask", "local",
                  "--dask-workers", "2")
    assert one.exit_code == 0 and dist.exit_code == 0, dist.output
    a, b = rows_of(tmp_path / "one" / "labels.csv"), rows_of(tmp_path / "dask" / "labels.csv")
    assert [r["cluster"] for r in a] == [r["cluster"] for r in b]
    assert [r["unknown"] for r in a] == [r["unknown"] for r in b]
