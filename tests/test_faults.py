"""Faults a batch job meets: SIGTERM at the time limit, a full disk, outputs that would overwrite or collide,
times with UTC offsets. Each ends in one line, a non-zero exit and nothing half-written."""
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import click
import numpy as np
import pytest
from click.testing import CliRunner

from gpuclust.errors import GpuclustError
from gpuclust.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """256 synthetic rows: an epoch in a second or two."""
    from gpuclust.data.synth import write_synthetic

    path = tmp_path_factory.mktemp("small") / "small.h5"
    write_synthetic(path, 256, seed=1, workers=1)
    return path


def cli_env(tmp_path):
    return {**os.environ, "GPUCLUST_THREADS": "1", "GPUCLUST_CACHE": str(tmp_path / "cache")}


# -- SIGTERM -----------------------------------------------------------------------------------

def test_sigterm_in_a_command_is_one_line_and_exit_143_and_the_handler_is_restored():
    from gpuclust_cli.boundary import friendly

    cleaned = []

    @click.command()
    @click.option("--resume", is_flag=True)
    @friendly
    def job(resume):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this
        finally:
            cleaned.append(True)

    before = signal.getsignal(signal.SIGTERM)
    r = CliRunner().invoke(job, [])
    assert r.exit_code == 143, r.output
    assert cleaned == [True]
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "terminated (SIGTERM)" in lines[0] and "--resume" in lines[0]
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_sigterm_during_training_releases_the_lock_and_resume_finishes(small_file, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "gpuclust_cli.main", "train", str(small_file), "--epochs", "3", "--batch-size",
            "64", "--device", "cpu", "-o", str(out)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path))
    try:
        deadline = time.time() + 120
        while not (out / "checkpoints" / "last.pt").exists():  # mid-training: one epoch done, more to go
            assert p.poll() is None and time.time() < deadline, p.communicate()
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("gpuclust: terminated (SIGTERM)")
    assert f"--resume -o {out}" in stderr and "Traceback" not in stderr
    assert not (out / ".gpuclust.lock").exists() and not list(out.rglob("*.tmp"))
    # the epochs the checkpoint holds: history.json is written after it, so a signal between the two finds it
    # one epoch behind (or not yet written), and the resume rightly goes by the checkpoint
    done = load_checkpoint(out / "checkpoints" / "last.pt", "cpu")["epoch"]
    assert 1 <= done < 3
    r = subprocess.run(args + ["--resume"], capture_output=True, text=True, env=cli_env(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resuming after epoch {done}" in r.stdout
    assert [h["epoch"] for h in json.load(open(out / "checkpoints" / "history.json"))] == [1, 2, 3]


# -- a full disk -------------------------------------------------------------------------------

def test_checkpoint_on_a_full_disk_names_it_and_leaves_nothing(tmp_path, monkeypatch):
    import torch

    from gpuclust.training import checkpoint

    def full(state, fh):  # as torch.save meets a full disk: the OSError, then its own RuntimeError
        fh.write(b"PK\x03\x04 half a checkpoint")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    path = tmp_path / "checkpoints" / "last.pt"
    with pytest.raises(GpuclustError, match="disk is full") as e:
        checkpoint.save_checkpoint(path, {"w": torch.zeros(3)})
    assert str(path) in str(e.value)
    assert os.listdir(path.parent) == []


@pytest.mark.slow  # trains an epoch
def test_train_on_a_full_disk_is_one_line_naming_the_disk_and_the_checkpoint(small_file, tmp_path, monkeypatch):
    from gpuclust.training import checkpoint
    from gpuclust_cli.main import cli

    def full(state, fh):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv("GPUCLUST_THREADS", "1")
    monkeypatch.setattr(checkpoint.torch, "save", full)
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", str(small_file), "--epochs", "1", "--device", "cpu", "-q", "-o", str(out)])
    assert r.exit_code == 2, r.output
    last = r.output.strip().splitlines()[-1]
    assert "the disk is full" in last and str(out / "checkpoints") in last and "internal error" not in r.output
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.tmp")) and not (out / ".gpuclust.lock").exists()


class _SmallDisk:
    """open() for gpuclust.atomic: files that take `room` bytes in all, then fail with ENOSPC."""

    def __init__(self, room):
        self.room = room

    def __call__(self, path, mode, buffering=-1):
        disk, f = self, open(path, mode, buffering=buffering)

        class Full:
            def write(self, b):
                n = min(len(b), max(disk.room, 0))
                disk.room -= len(b)
                if n < len(b):
                    f.write(bytes(memoryview(b)[:n]))
                    raise OSError(errno.ENOSPC, "No space left on device")
                return f.write(b)

            def __getattr__(self, name):
                return getattr(f, name)

        return Full()


def test_synth_on_a_full_disk_names_it_leaves_nothing_and_hdf5_stays_sane(tmp_path, monkeypatch):
    """HDF5 given a failing file had printed error stacks and crashed the interpreter at exit."""
    from gpuclust import atomic
    from gpuclust.data import ris_writer
    from gpuclust.data.synth import write_synthetic

    monkeypatch.setattr(atomic, "open", _SmallDisk(2 * 2**20), raising=False)  # fails inside HDF5's writes
    monkeypatch.setattr(ris_writer, "check_free_space", lambda *a: None)  # the disk fills after the check
    path = tmp_path / "s.h5"
    with pytest.raises(GpuclustError, match="disk is full") as e:
        write_synthetic(path, 300, workers=1)
    assert str(path) in str(e.value)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    write_synthetic(path, 20, workers=1)  # the library still works afterwards
    assert sorted(os.listdir(tmp_path)) == ["s.h5", "s.h5.csv"]


def test_synth_refuses_a_block_the_disk_cannot_take(tmp_path, monkeypatch):
    import shutil

    from gpuclust.data.synth import write_synthetic

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=5 * 2**20))
    with pytest.raises(GpuclustError, match=r"disk is full .*5\.0 MB free"):
        write_synthetic(tmp_path / "s.h5", 300, workers=1)
    assert os.listdir(tmp_path) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 3 MB file system (needs root and a mount-capable container; skipped otherwise)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True) \
        if os.geteuid() == 0 else None
    if r is None or r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + (r.stderr.strip() if r else "not root"))
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.slow
def test_synth_and_a_checkpoint_on_a_real_full_disk(small_tmpfs, tmp_path):
    code = ("import sys, torch; import gpuclust.data.ris_writer as w; w.check_free_space = lambda *a: None\n"
            "from gpuclust.training.checkpoint import save_checkpoint\n"
            "try:\n    save_checkpoint(sys.argv[1], {'w': torch.zeros(2_000_000)})\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    r = subprocess.run([sys.executable, "-c", code, str(small_tmpfs / "last.pt")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("GpuclustError") and "disk is full" in r.stdout, r
    r = subprocess.run([sys.executable, "-m", "gpuclust_cli.main", "synth", str(small_tmpfs / "s.h5"), "-n", "300"],
                       capture_output=True, text=True, env=cli_env(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "disk is full" in r.stderr, r
    assert os.listdir(small_tmpfs) == []


# -- outputs that would overwrite or collide ----------------------------------------------------

def test_predict_refuses_to_write_into_a_run_directory(tmp_path):
    from gpuclust.pipeline.predict import predict

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "labels.csv").write_text("row,cluster\n0,1\n")
    for out in (run, tmp_path / "other-run"):
        if not out.exists():
            (out / "model").mkdir(parents=True)
        with pytest.raises(GpuclustError, match="is a run directory"):
            predict(str(run), ["x.h5"], str(out), backend=None)
    assert (run / "labels.csv").read_text() == "row,cluster\n0,1\n"


def test_default_output_directories_are_unique_when_started_together(tmp_path):
    from gpuclust.atomic import unique_dir

    base = str(tmp_path / "predict-20261202-120000")
    made = []
    threads = [threading.Thread(target=lambda: made.append(unique_dir(base))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and base in made and all(os.path.isdir(d) for d in made)


# -- times with UTC offsets ----------------------------------------------------------------------

def test_overlay_and_catalogue_times_with_offsets_are_read_as_utc(tmp_path):
    import datetime as dt

    from gpuclust.pipeline.predict import read_overlay
    from gpuclust.plots.figures import temporal_figure

    csv = tmp_path / "data.h5.temperature.csv"
    csv.write_text("time,temperature\n2015-01-01T00:00:00Z,1\n2015-01-01T02:00:00+01:00,2\n"
                   "2015-01-01T02:00:00,3\n2015-01-02T00:00:00-05:00,4\n")
    o = read_overlay(str(csv))
    assert o["times"] == [dt.datetime(2015, 1, 1, 0), dt.datetime(2015, 1, 1, 1), dt.datetime(2015, 1, 1, 2),
                          dt.datetime(2015, 1, 2, 5)]
    cat = [{"station": "DR01", "dt_on": t} for t in ("2015-01-01T00:30:00Z", "2015-01-01T03:00:00+02:00",
                                                     "2015-01-02T00:00:00", "2015-01-03T00:00:00.5+00:00")]
    assert temporal_figure(cat, np.array([0, 1, 0, 1]), 2, tmp_path / "t.png", overlay=o)
    assert (tmp_path / "t.png").stat().st_size > 0


# -- QuakeML, written event by event -------------------------------------------------------------

@pytest.mark.slow  # ObsPy builds, writes and reads back 2 x 1,000 events
def test_streamed_quakeml_reads_back_equal_to_the_obspy_catalogue_it_replaces(tmp_path):
    """The old exporter (ObsPy objects, one write; kept in the benchmark as the reference) against the new."""
    import obspy

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    try:
        from bench_quakeml import detections, old_write_quakeml
    finally:
        sys.path.pop(0)
    from gpuclust.export import read_labels_from_quakeml, write_quakeml

    d = detections(1000, seed=2)
    d["catalogue"][5]["station"] = 'D<&>"R'  # escaped in text and attributes
    d["catalogue"][6]["dt_peak"] = "2015-03-01T12:00:00.25-02:30"
    d["cluster_names"][1] = "tremor & <glide>"
    new = tmp_path / "new.xml"
    assert write_quakeml(new, **{**d, "catalogue": iter(d["catalogue"])}) == 1000  # any iterable, read once
    got = obspy.read_events(str(new))
    old = tmp_path / "old.xml"
    old_write_quakeml(old, **d, creation_time=got.creation_info.creation_time)
    want = obspy.read_events(str(old))
    assert got == want  # every event's every field: ids, type, description, comment, pick, creation info
    assert read_labels_from_quakeml(new) == read_labels_from_quakeml(old)
    assert got[6].picks[0].time == obspy.UTCDateTime("2015-03-01T14:30:00.25")
    assert got[5].picks[0].waveform_id.station_code == 'D<&>"R'


def test_quakeml_refuses_a_catalogue_shorter_than_the_rows(tmp_path):
    from gpuclust.export import write_quakeml

    cat = [{"station": "A", "dt_on": "2015-01-01T00:00:00"}]
    with pytest.raises(GpuclustError, match="1 entries for 2 rows"):
        write_quakeml(tmp_path / "c.xml", [0, 1], [0, 0], cat)
    assert os.listdir(tmp_path) == []
