"""Memory that does not grow with the file: what a stage reads is bounded by what it asks for."""
import numpy as np

from gpuclust.data import spectrograms
from gpuclust.data.spectrograms import open_spectrograms
from tests.conftest import make_ris_file


def test_a_dense_sample_of_rows_is_read_in_bounded_slices(tmp_path, monkeypatch):
    # every 5th row of the file: no gap over 32, so the rows once came back as one slice of the whole file
    path = tmp_path / "ris.h5"
    raw = make_ris_file(path, m=400)
    monkeypatch.setattr(spectrograms, "MAX_SLICE_ROWS", 64)
    spans = []
    with open_spectrograms(path) as sf:
        read_block = sf.read_block

        def spy(lo, hi):
            spans.append(hi - lo)
            return read_block(lo, hi)

        monkeypatch.setattr(sf, "read_block", spy)
        rows = np.arange(3, 400, 5)[::-1]  # any order
        x = sf.read_rows(rows)
    np.testing.assert_array_equal(x, raw[rows, :-1, 1:])
    assert max(spans) <= 64
    assert sum(spans) <= 400  # each row of the file read at most once


def test_rows_are_normalised_a_block_at_a_time_with_the_values_of_one_call(tmp_path, monkeypatch):
    """Regression: normalising everything read at once held ~5 copies of it (log-aligned: 1.7 GB above an
    8,192-row window; an in-memory validation set of 85,560 rows ~15 GB)."""
    from gpuclust.data import loader
    from gpuclust.data.normalise import NORMALISATIONS, normalise

    path = tmp_path / "ris.h5"
    make_ris_file(path, m=90)
    calls = []
    real = loader.normalise

    def spy(x, *a, **k):
        calls.append(len(x))
        return real(x, *a, **k)

    monkeypatch.setattr(loader, "NORM_BLOCK", 16)
    monkeypatch.setattr(loader, "normalise", spy)
    rows = np.arange(89, -1, -1)
    with open_spectrograms(path) as sf:
        for norm in NORMALISATIONS:
            calls.clear()
            want = normalise(sf.read_rows(rows), norm)
            np.testing.assert_array_equal(loader.load_rows(sf, rows, norm), want)
            assert norm == "none" or max(calls) <= 16


def test_the_sources_of_a_stage_share_one_memory_budget(tmp_path):
    """Regression: training and validation (and the refinement's two sources) each had the whole budget, so a
    100,000-row run's refinement held 9.7 GB with memory_budget_gb = 4."""
    from gpuclust.training.sources import InMemory, Streamed, held_bytes, make_source

    path = tmp_path / "ris.h5"
    make_ris_file(path, m=60)
    with open_spectrograms(path) as sf:
        per_row = 87 * 100 * 4
        budget = 45 * per_row
        train = make_source(sf, np.arange(40), "log", "cpu", budget)
        assert isinstance(train, InMemory) and held_bytes(train) == 40 * per_row
        rest = make_source(sf, np.arange(40, 60), "log", "cpu", budget - held_bytes(train))
        assert isinstance(rest, Streamed) and held_bytes(rest) == 0


def test_the_stages_after_training_hold_read_windows_not_every_image(tmp_path, monkeypatch):
    """Issue 19's done-when: the same 2,500 rows with 4x larger images (40 x 40 -> 80 x 80) may raise the peak
    of each stage after training (embed, cluster, t-SNE, figures; traced NumPy and Python allocations above
    what the stage started with) by about the read windows' images, never by the images of every row. The
    budget for holding rows is 1 KB here, so every stage streams; windows are shrunk to be small beside
    the file."""
    import tracemalloc

    from gpuclust.backend import resolve_backend
    from gpuclust.data import loader
    from gpuclust.pipeline.config import make_config
    from gpuclust.pipeline.run import run

    n, window = 2500, 64
    monkeypatch.setattr(loader, "READ_WINDOW", window)
    monkeypatch.setattr(loader, "NORM_BLOCK", window)
    monkeypatch.setattr(spectrograms, "MAX_SLICE_ROWS", window)
    backend = resolve_backend("cpu")
    peaks = {}
    for side in (40, 80):
        data = tmp_path / f"d{side}.h5"
        make_ris_file(data, m=n, f=side, t=side)
        cfg = make_config(None, data=str(data), out=str(tmp_path / f"run{side}"), quiet=True, device="cpu",
                          epochs=1, refine_epochs=1, train_rows=300, k=3, n_init=1, tsne_max_points=100,
                          memory_budget_gb=1e-6)
        run(cfg, backend, log=lambda *a: None, until="refine", explore=False)
        peaks[side] = stage = {}
        current = []

        def log(line, stage=stage, current=current):  # "[embed] ..." starts a stage: the last one's peak is in
            if current:
                stage[current[0][0]] = tracemalloc.get_traced_memory()[1] - current[0][1]
                current.clear()
            if line.startswith("[") and line.endswith("] ..."):
                tracemalloc.reset_peak()
                current.append((line[1:line.index("]")], tracemalloc.get_traced_memory()[0]))

        tracemalloc.start()
        try:
            run(cfg, backend, resume=True, log=log, explore=False)
            log("")
        finally:
            tracemalloc.stop()
    per_row = 4 * (80 * 80 - 40 * 40)  # bytes a row's image grows by
    assert {"embed", "cluster", "tsne", "figures"} <= set(peaks[80])
    allowed = 16 * window * per_row  # some windows' worth of larger images (normalising holds ~5 copies)...
    assert allowed < n * per_row / 2  # ...far below every row's (what a stage holding all the images adds)
    for name in peaks[80]:
        assert peaks[80][name] - peaks[40][name] < allowed, (name, peaks)
