# Short OpenMP spin-waits before torch or NumPy load, as the `gpuclust` command sets them at start-up
# (gpuclust/threads.py). Without them two pytest-xdist workers on two cores spin against each other:
# test_bad_inputs.py + test_models_training.py took 136-159 s on 2 workers, 54 s with them.
from gpuclust.threads import configure_before_import

configure_before_import()

import json  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gpuclust.backend import gpu_available  # noqa: E402


# Seconds each file took on the 2-core VM (2026-12-07, `--junitxml`, both workers busy); unlisted files are
# quick. `-n auto --dist loadfile` hands out whole files in the order collected, one to each idle worker:
# with the heaviest first, the two workers end within seconds of each other. pytest-xdist's own order
# (most tests first) left test_benchmarks.py (few tests, 287 s) to start last: one worker ran it alone
# for a minute and a half (13 min 12 s in all).
HEAVY_FILES = {"test_benchmarks.py": 287, "test_run.py": 216, "test_monitoring.py": 162, "test_distributed.py": 128,
               "test_explore.py": 116, "test_bad_inputs.py": 113, "test_models_training.py": 98,
               "test_scale_memory.py": 65, "test_reproducible.py": 65, "test_portable.py": 35, "test_archive.py": 47, "test_faults.py": 44,
               "test_sklearn_conformance.py": 27}


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist >= 3.8: keep the order collected (above)
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: -HEAVY_FILES.get(item.path.name, 0))  # stable: a file's tests keep their order
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU with CuPy")
    for item in items:
        if item.get_closest_marker("gpu") is not None:  # not `in item.keywords`: a checkout in a folder named gpu matched
            item.add_marker(skip)


def make_ris_file(path, m=50, f=87, t=100, group="4.0", nan_rows=(), seed=0):
    """A file laid out exactly as RIS_FORMAT.md says, written with h5py alone (not gpuclust's writer)."""
    rng = np.random.default_rng(seed)
    freqs = np.linspace(3.125, 19.921875, f)
    times = np.arange(t) * 0.04
    x = np.empty((m, f + 1, t + 1), np.float32)
    x[:, :-1, 1:] = rng.random((m, f, t)) * 1e-12
    x[:, :-1, 0] = freqs
    x[:, -1, 1:] = times
    x[:, -1, 0] = np.nan
    for r in nan_rows:
        x[r, 5, 7] = np.nan
    with h5py.File(path, "w") as h5:
        g = h5.create_group(group)
        g.attrs["T_seg (s)"] = float(group)
        g.attrs["NFFT"] = 256
        d = g.create_dataset("Spectrogram", data=x, chunks=(min(20, m), f + 1, t + 1), maxshape=(None, f + 1, t + 1))
        d.attrs.update(AmplUnits="(m/s)^2/Hz", FreqUnits="Hz", TimeUnits="s")
        g.create_dataset("Trace", data=rng.standard_normal((m, 199)).astype(np.float32))
        cat = [json.dumps({"Index": i, "network": "XH", "station": f"DR{1 + i % 16:02d}", "channel": "HHZ",
                           "dt_on": f"2015-01-01T00:{i // 60:02d}:{i % 60:02d}"}) for i in range(m)]
        g.create_dataset("Catalogue", data=np.array(cat, dtype=object), dtype=h5py.string_dtype("utf-8"))
    return x


@pytest.fixture
def ris_file(tmp_path):
    path = tmp_path / "ris.h5"
    raw = make_ris_file(path, nan_rows=(3, 17))
    return path, raw


@pytest.fixture(scope="session")
def synth_file(tmp_path_factory):
    """A small synthetic benchmark file, made once for the whole session."""
    from gpuclust.data.synth import write_synthetic

    path = tmp_path_factory.mktemp("synth") / "synth.h5"
    write_synthetic(path, 1200, seed=3)
    return path
