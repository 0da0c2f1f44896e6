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
