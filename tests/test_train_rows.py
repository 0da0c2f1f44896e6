"""`gpuclust run --train-rows N`: the encoder trained and refined on a seeded sample of N rows, every row
encoded and clustered; the option recorded in config.json and honoured by --resume."""
import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from gpuclust_cli.commands import cli
from tests.conftest import make_ris_file

pytestmark = pytest.mark.slow  # a tiny run, trained and clustered (about 10 s on 2 idle cores)

ROWS, SAMPLE = 240, 90
TINY = ["--train-rows", str(SAMPLE), "--epochs", "1", "--refine-epochs", "1", "--k", "3", "--n-init", "1",
        "--batch-size", "32", "--device", "cpu", "-q", "--no-explore"]


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory):
    """A run stopped after clustering (the later stages do not depend on the sample), with the rows the
    training and refinement sources were built from recorded."""
    from gpuclust.pipeline import run as run_mod
    from gpuclust.pipeline.stages import refine, train

    root = tmp_path_factory.mktemp("train_rows")
    data = root / "ris.h5"
    make_ris_file(data, m=ROWS)
    seen = {}
    mp = pytest.MonkeyPatch()
    mp.setenv("GPUCLUST_THREADS", "2")
    for mod in (train, refine):
        def spy(sf, rows, *a, _make=mod.make_source, _name=mod.__name__.rsplit(".", 1)[-1]):
            seen.setdefault(_name, []).append(np.asarray(rows))
            return _make(sf, rows, *a)

        mp.setattr(mod, "make_source", spy)
    keep = [s for s in run_mod.STAGES if s.name not in ("tsne", "figures")]
    mp.setattr(run_mod, "STAGES", tuple(keep))
    mp.setattr(run_mod, "_run_stages", _until_cluster(run_mod._run_stages))
    r = CliRunner().invoke(cli, ["run", str(data), *TINY, "-o", str(root / "out")])
    mp.undo()
    assert r.exit_code == 0, r.output
    return root / "out", data, seen


def _until_cluster(run_stages):
    def wrapped(ctx, until):
        s = run_stages(ctx, "cluster")
        return {**s, "report": "", "metrics": json.load(open(ctx.run.file("metrics.json")))}
    return wrapped


def test_the_encoder_is_trained_and_refined_on_the_sample_and_every_row_is_labelled(sampled_run):
    out, _, seen = sampled_run
    with np.load(out / "splits.npz") as z:
        sp = {k: z[k] for k in z.files}
    sample = np.sort(np.concatenate([sp["train"], sp["val"], sp["test"]]))
    assert len(sample) == SAMPLE and len(sp["rest"]) == ROWS - SAMPLE
    assert not np.intersect1d(sample, sp["rest"]).size
    # the training, validation and refinement sources only ever hold sample rows
    for name in ("train", "refine"):
        used = np.concatenate(seen[name])
        assert np.isin(used, sample).all(), name
    assert set(np.concatenate(seen["train"]).tolist()) == set(sp["train"]) | set(sp["val"])
    with open(out / "labels.csv") as fh:
        labelled = sorted(int(r["row"]) for r in csv.DictReader(fh))
    assert labelled == list(range(ROWS))
    assert json.load(open(out / "config.json"))["train_rows"] == SAMPLE
    assert json.load(open(out / "stages.json"))["data"]["info"]["outside_sample"] == ROWS - SAMPLE


def test_the_sample_is_seeded_and_resume_honours_it(sampled_run):
    from gpuclust.pipeline.stages.data import training_sample

    out, data, _ = sampled_run
    with np.load(out / "splits.npz") as z:
        sample = np.sort(np.concatenate([z["train"], z["val"], z["test"]]))
    rows = np.arange(ROWS)
    np.testing.assert_array_equal(training_sample(rows, SAMPLE, 0), sample)
    assert not np.array_equal(training_sample(rows, SAMPLE, 1), sample)
    np.testing.assert_array_equal(training_sample(rows, ROWS + 5, 0), rows)  # more than there are: all
    # a changed sample size invalidates the split and everything after it
    from gpuclust.pipeline.rundir import fingerprint
    from gpuclust.pipeline.stages import data as data_stage

    rec = json.load(open(out / "stages.json"))["data"]
    cfg = json.load(open(out / "config.json"))
    assert rec["fingerprint"] == fingerprint({k: cfg[k] for k in data_stage.STAGE.keys})
    assert rec["fingerprint"] != fingerprint({**{k: cfg[k] for k in data_stage.STAGE.keys}, "train_rows": 100})
