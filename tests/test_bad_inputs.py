"""A battery of bad inputs and faults across the commands, met the way a user meets them.

Every case must end in exit code 2 with one line naming the file or option and the problem: never a
traceback, never a half-written file under a final name, never a directory that blocks the retry.
"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from gpuclust_cli.commands import cli
from tests.conftest import make_ris_file

TINY = ["--epochs", "1", "--k", "2", "--tsne-max-points", "50", "--n-init", "1", "--batch-size", "32",
        "--refine-epochs", "2", "--device", "cpu", "-q"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_user_error(r, *words):
    """Exit 2, one line on stderr (CliRunner mixes it into output), no traceback, the words said."""
    text = r.output
    assert r.exit_code == 2, (r.exit_code, text, r.exception)
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("gpuclust: error:") or line.startswith("Error:")]
    assert len(errors) == 1, text
    for w in words:
        assert w.lower() in text.lower(), (w, text)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 400-row synthetic file and latents from it, made once."""
    from gpuclust.data.synth import write_synthetic

    d = tmp_path_factory.mktemp("bad")
    write_synthetic(d / "s.h5", 400, seed=2)
    rng = np.random.default_rng(0)
    np.save(d / "lat.npy", rng.standard_normal((300, 5)))
    with h5py.File(d / "lat.h5", "w") as h5:
        h5["latent"] = rng.standard_normal((300, 5)).astype(np.float32)
        h5["row"] = np.arange(300)
    return d


def truncated_copy(src, dst, keep=0.5):
    with open(src, "rb") as fh:
        data = fh.read()
    with open(dst, "wb") as fh:
        fh.write(data[: int(len(data) * keep)])
    return dst


# -- damaged files ---------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["info"], ["run", *TINY], ["train", "--epochs", "1", "-q", "--device", "cpu"], ["cluster", "-k", "2"],
    ["select-k"], ["tsne"],
])
def test_a_truncated_hdf5_file_is_one_line(small, tmp_path, command):
    src = small / ("lat.h5" if command[0] in ("cluster", "select-k", "tsne") else "s.h5")
    bad = truncated_copy(src, tmp_path / "cut.h5")
    extra = ["-o", tmp_path / "out"] if command[0] not in ("info",) else []
    r = invoke(command[0], bad, *command[1:], *extra)
    assert_user_error(r, "cut.h5")
    assert not (tmp_path / "out").exists()


def test_embed_with_a_truncated_file_and_checkpoint(small, tmp_path):
    r = invoke("train", small / "s.h5", "--epochs", "1", "-q", "--device", "cpu", "-o", tmp_path / "t")
    assert r.exit_code == 0, r.output
    ckpt = tmp_path / "t" / "checkpoints" / "best.pt"
    assert_user_error(invoke("embed", ckpt, truncated_copy(small / "s.h5", tmp_path / "cut.h5"), "-o",
                             tmp_path / "l.h5"), "cut.h5")
    assert_user_error(invoke("embed", truncated_copy(ckpt, tmp_path / "cut.pt"), small / "s.h5", "-o",
                             tmp_path / "l.h5"), "cut.pt")
    assert not (tmp_path / "l.h5").exists()


@pytest.mark.parametrize("content, words", [
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "not a numeric .npy"),
    (lambda p: np.save(p, np.array(["x", "y"]).reshape(1, 2)), "real numbers"),
    (lambda p: open(p, "wb").write(b"\x93NUMPY garbage"), "lat.npy: not a numeric"),
])
def test_npy_latents_that_hold_objects_or_junk(tmp_path, content, words):
    p = tmp_path / "lat.npy"
    content(p)
    assert_user_error(invoke("cluster", p, "-o", tmp_path / "c"), words)


# -- outputs that cannot be written --------------------------------------------------------

def _blocked(tmp_path):
    """A path whose parent is a file: no user, root included, can create it."""
    (tmp_path / "a_file").write_text("x")
    return tmp_path / "a_file" / "out"


@pytest.mark.parametrize("command", ["run", "cluster", "select-k", "tsne", "embed", "synth", "bench", "compare",
                                     "spectrograms", "proc"])
def test_unwritable_outputs_are_refused_before_the_work(small, tmp_path, command):
    out = _blocked(tmp_path) if command != "proc" else "/proc/gpuclust-test/out"
    args = {
        "run": ["run", small / "s.h5", *TINY, "-o", out],
        "proc": ["run", small / "s.h5", *TINY, "-o", out],
        "cluster": ["cluster", small / "lat.npy", "-o", out],
        "select-k": ["select-k", small / "lat.npy", "-o", out],
        "tsne": ["tsne", small / "lat.npy", "-o", out],
        "embed": ["embed", small / "missing.pt", small / "s.h5", "-o", out],
        "synth": ["synth", out, "-n", "16"],
        "bench": ["bench", "--sizes", "100", "--tsne-size", "0", "-o", out],
        "compare": ["compare", tmp_path, "-o", out],
        "spectrograms": ["spectrograms", small / "none.mseed", "-o", out],
    }[command]
    r = invoke(*args)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output


# -- data that looks valid but breaks a later stage ---------------------------------------------

def _ris_with(path, fill):
    make_ris_file(path, m=60)
    with h5py.File(path, "r+") as h5:
        d = h5["4.0/Spectrogram"]
        x = d[:]
        fill(x)
        d[...] = x
    return path


def test_a_file_of_all_zero_spectrograms_is_refused_at_once(tmp_path):
    p = _ris_with(tmp_path / "zeros.h5", lambda x: x.__setitem__((slice(None), slice(0, -1), slice(1, None)), 0))
    assert_user_error(invoke("run", p, *TINY, "-o", tmp_path / "out"), "no usable row", "all-zero")
    assert not (tmp_path / "out").exists()
    info = invoke("info", p)
    assert info.exit_code == 0 and "60 all zero" in info.output


def test_zero_rows_among_good_ones_are_skipped_and_counted(tmp_path):
    def some_zero(x):
        x[:15, :-1, 1:] = 0
    p = _ris_with(tmp_path / "some.h5", some_zero)
    r = invoke("run", p, *TINY, "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "15 all-zero row(s)" in r.output
    with open(tmp_path / "out" / "labels.csv") as fh:
        assert sum(1 for _ in fh) - 1 == 45
    refuse = invoke("run", p, *TINY, "--bad-rows", "refuse", "-o", tmp_path / "out2")
    assert_user_error(refuse, "15 all-zero", "--bad-rows skip")


@pytest.mark.parametrize("scale", [1e30, 1e18, 1e-50])
def test_huge_and_tiny_values_still_cluster(tmp_path, scale):
    """Values near 1e30 overflowed float32 L2 norms; float16-like underflow must not crash either."""
    def rescale(x):
        x[:, :-1, 1:] = (x[:, :-1, 1:] / x[:, :-1, 1:].max() * scale).astype(np.float32)
    p = _ris_with(tmp_path / "scaled.h5", rescale)
    for norm in ("log", "l2"):
        r = invoke("run", p, *TINY, "--norm", norm, "-o", tmp_path / f"out-{norm}")
        if scale < 1e-45:  # below float32's smallest number: stored as zeros (as float16 power underflows)
            assert_user_error(r, "no usable row")
        else:
            assert r.exit_code == 0, r.output
            m = json.load(open(tmp_path / f"out-{norm}" / "metrics.json"))
            assert m["n"] == 60


def test_negative_values_with_log_normalisation(tmp_path):
    p = _ris_with(tmp_path / "neg.h5", lambda x: x.__setitem__((0, 3, 3), -1.0))
    assert_user_error(invoke("run", p, *TINY, "--norm", "log", "-o", tmp_path / "out"), "negative", "--norm")


def test_k_larger_than_the_data_fails_before_training_and_the_retry_works(small, tmp_path):
    out = tmp_path / "out"
    r = invoke("run", small / "s.h5", *TINY[:2], "--k", "100000", "--device", "cpu", "-q", "-o", out)
    assert_user_error(r, "K = 100000", "training split", "400 usable rows")
    assert "[train]" not in r.output and not out.exists()
    assert invoke("run", small / "s.h5", *TINY, "-o", out).exit_code == 0


def test_a_second_run_into_the_same_directory_at_once_is_refused(small, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / ".gpuclust.lock").write_text(str(sleeper.pid))
        assert_user_error(invoke("run", small / "s.h5", *TINY, "-o", out), "another gpuclust", str(sleeper.pid))
        assert_user_error(invoke("cluster", small / "lat.npy", "-o", out), "another gpuclust")
    finally:
        sleeper.kill()
        sleeper.wait()
    # a lock left by a process that died is taken over
    assert invoke("run", small / "s.h5", *TINY, "-o", out).exit_code == 0
    assert not (out / ".gpuclust.lock").exists()


def test_select_k_and_tsne_on_bad_latents(tmp_path):
    nan = np.random.default_rng(0).standard_normal((50, 3))
    nan[7, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    assert_user_error(invoke("select-k", tmp_path / "nan.npy", "-o", tmp_path / "k"), "NaN", "row 7")
    assert_user_error(invoke("select-k", tmp_path / "empty.npy", "-o", tmp_path / "k"), "0 samples")
    assert_user_error(invoke("tsne", tmp_path / "nan.npy", "-o", tmp_path / "t"), "NaN")
    assert_user_error(invoke("cluster", tmp_path / "nan.npy", "-o", tmp_path / "c"), "1 row(s) with NaN")


# -- options checked before any work ------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--fs", "0"], ["--fs"]),
    (["--fmin", "20", "--fmax", "3"], ["--fmin", "--fmax"]),
    (["--nperseg", "0"], ["--nperseg"]),
    (["--noverlap", "20"], ["--noverlap"]),
    (["--sta", "40"], ["--sta", "--lta"]),
    (["--fmax", "30"], ["--fmax", "Nyquist"]),
])
def test_spectrogram_options_are_checked_first(tmp_path, args, words):
    from tests.test_synth_and_waveforms import real_waveform

    assert_user_error(invoke("spectrograms", real_waveform(), "-o", tmp_path / "o.h5", *args), *words)
    assert not (tmp_path / "o.h5").exists()


def test_tsne_options_and_labels_file(small, tmp_path):
    assert_user_error(invoke("tsne", small / "lat.npy", "--perplexity", "-5", "-o", tmp_path / "t"), "perplexity")
    assert_user_error(invoke("tsne", small / "lat.npy", "--labels", tmp_path / "none.csv", "-o", tmp_path / "t"),
                      "none.csv")


@pytest.mark.parametrize("text, words", [
    ('epochs = "many"\n', ["epochs", "whole number", "many"]),
    ("lr = [1]\n", ["lr", "number"]),
    ("k = 0\n", ["k must be at least 1"]),
    ("split = [0.7, 0.2]\n", ["split"]),
    ("split = [0.5, 0.6, 0.1]\n", ["split", "sum to 1", "0.6"]),  # was run as a 17/20/3 split, exit 0
    ("compute_threads = 100000\n", ["compute_threads must be between 1 and 1024"]),  # crashed in OpenMP
    ("wings = 2\n", ["unknown config option", "wings"]),
    ("epochs = \n", ["cannot parse"]),
])
def test_config_files_with_wrong_values(small, tmp_path, text, words):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert_user_error(invoke("run", small / "s.h5", "--config", cfg, "-o", tmp_path / "out"), *words)
    assert not (tmp_path / "out").exists()


def test_help_texts_match_what_commands_take():
    run_help, train_help = invoke("run", "--help").output, invoke("train", "--help").output
    assert "--freqs-dataset" in run_help and "--times-dataset" in run_help
    for flag in ("--method", "--dask", "--tsne-max-points", "--k-max", "--covariance-type"):
        assert flag in run_help and flag not in train_help
    for command in ("run", "train", "cluster", "select-k", "tsne", "embed", "spectrograms", "synth", "bench"):
        text = invoke(command, "--help").output
        options = [line for line in text.splitlines() if line.strip().startswith("-")]
        bare = [o for o in options if len(o.split("  ")) < 2 and not o.strip().startswith("-h")]
        assert not bare, f"{command}: options without help text: {bare}"


# -- faults -----------------------------------------------------------------------------------

def test_an_internal_bug_is_one_line_and_debug_shows_the_traceback(small, tmp_path, monkeypatch):
    import gpuclust.data.spectrograms as sp

    def broken(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(sp.SpectrogramFile, "row_health", broken)
    monkeypatch.delenv("GPUCLUST_DEBUG", raising=False)
    r = invoke("info", small / "s.h5")
    assert r.exit_code == 1 and "internal error" in r.output and "simulated bug" in r.output
    assert "--debug" in r.output and "Traceback" not in r.output
    r = invoke("--debug", "info", small / "s.h5")
    assert isinstance(r.exception, RuntimeError)  # the traceback is there for the bug report
    os.environ.pop("GPUCLUST_DEBUG", None)


def test_the_real_file_case_every_usable_row_gets_a_label(tmp_path):
    """Regression: 362 rows split 253 + 72 + 36 left one row unlabelled. Every size, every row."""
    from gpuclust.data.splits import make_splits

    for n in list(range(1, 400)) + [361, 362, 363, 427_798]:
        sp = make_splits(np.arange(n), (0.7, 0.2, 0.1), 0)
        assert len(sp.train) + len(sp.val) + len(sp.test) == n
        assert np.array_equal(np.sort(np.concatenate(list(sp.as_dict().values()))), np.arange(n))
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_commands_that_fail_after_checking_their_output_leave_no_directory_behind(small, tmp_path):
    """cluster with more clusters than latents, tsne with labels of other rows: the --out they made is gone."""
    assert_user_error(invoke("cluster", small / "lat.h5", "-k", "301", "-o", tmp_path / "c", "--device", "cpu"),
                      "301")
    assert not (tmp_path / "c").exists()
    other = tmp_path / "labels.csv"
    other.write_text("row,cluster\n100000,0\n100001,1\n")
    assert_user_error(invoke("tsne", small / "lat.h5", "--labels", other, "-o", tmp_path / "t", "--device", "cpu"),
                      "none of its rows")
    assert not (tmp_path / "t").exists()
    (tmp_path / "kept").mkdir()  # a directory the user made stays, even when the command fails
    assert_user_error(invoke("cluster", small / "lat.h5", "-k", "301", "-o", tmp_path / "kept", "--device", "cpu"))
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir())


@pytest.mark.parametrize("change, words", [
    ("short Label", ["/4.0/Label has 20 rows", "Spectrogram 50", "row for row"]),
    ("short Trace", ["/4.0/Trace has 20 rows"]),
    ("short Catalogue", ["/4.0/Catalogue has 20 rows"]),
    ("NaN frequencies", ["frequency vector (column 0)", "NaN or inf"]),
    ("NaN times", ["time vector (last row)", "NaN or inf"]),
    ("Spectrogram a group", ["/4.0/Spectrogram is a group, not a dataset"]),
])
def test_a_ris_file_whose_parts_disagree_is_refused_when_opened(tmp_path, change, words):
    """Each of these ran the whole training and then ended in an internal error (IndexError in the embed or
    catalogue stage, NaN axis limits in the figures, AttributeError for a group): found by a QA pass."""
    path = tmp_path / "r.h5"
    make_ris_file(path)
    with h5py.File(path, "r+") as h5:
        g = h5["4.0"]
        if change.startswith("short"):
            name = change.split()[1]
            data = g[name][:20] if name in g else np.zeros(20, np.int64)
            if name in g:
                del g[name]
            g.create_dataset(name, data=data)
        elif change == "NaN frequencies":
            g["Spectrogram"][0, 3, 0] = np.nan
        elif change == "NaN times":
            g["Spectrogram"][0, -1, 5] = np.nan
        else:
            del g["Spectrogram"]
            g.create_group("Spectrogram")
    assert_user_error(invoke("info", path), *words)


def test_k_against_the_training_split_including_one_row_for_a_mixture():
    """A one-row file with --k 1 trained and then ended in an internal error in the refine stage (the mixture
    it fits needs two rows); with K-means and the reconstruction objective one row is enough."""
    from gpuclust.errors import GpuclustError
    from gpuclust.pipeline.config import make_config
    from gpuclust.pipeline.stages.common import check_k

    with pytest.raises(GpuclustError, match="needs at least 2; use more data"):
        check_k(make_config(None, k=1), 1, 1, 1)
    check_k(make_config(None, k=1, method="kmeans", objective="reconstruction"), 1, 1, 1)
    with pytest.raises(GpuclustError, match="K = 8 clusters asked for.* 5 of the file's 6 usable rows"):
        check_k(make_config(None, k=8), 5, 6, 7)


def test_a_complex_spectrogram_and_a_short_latent_row_index_are_refused(tmp_path):
    """Both were accepted silently: a complex Spectrogram read as its real part (NumPy's ComplexWarning
    printed), and cluster labelled only the rows a shorter 'row' dataset named."""
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as h5:
        h5.create_group("4.0").create_dataset("Spectrogram", data=np.ones((4, 10, 12), np.complex64))
    assert_user_error(invoke("info", path), "complex64 values", "real numbers")
    lat = tmp_path / "lat.h5"
    with h5py.File(lat, "w") as h5:
        h5.create_dataset("latent", data=np.random.default_rng(0).random((10, 3)))
        h5.create_dataset("row", data=np.arange(5))
    assert_user_error(invoke("cluster", lat, "-k", "2", "-o", tmp_path / "out"), "'row' has 5 values",
                      "'latent' 10 rows")
