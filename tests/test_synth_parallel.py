"""The benchmark made by several processes is the file one process makes; a tiled file repeats its blocks."""
import datetime as dt
import json

import h5py
import numpy as np

from gpuclust.data import synth
from gpuclust.data.spectrograms import open_spectrograms
from tests.test_scenario import content_digest


def test_parallel_generation_writes_the_same_file(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "BLOCK", 100)  # three small blocks instead of one
    synth.write_synthetic(tmp_path / "one.h5", 300, seed=5, workers=1)
    synth.write_synthetic(tmp_path / "three.h5", 300, seed=5, workers=3)
    assert content_digest(tmp_path / "one.h5") == content_digest(tmp_path / "three.h5")
    assert (tmp_path / "one.h5.csv").read_bytes() == (tmp_path / "three.h5.csv").read_bytes()


def test_a_tiled_file_repeats_the_first_blocks_with_time_moving_on(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "BLOCK", 100)
    synth.write_synthetic(tmp_path / "t.h5", 250, seed=5, workers=1, distinct_rows=100)
    sf = open_spectrograms(tmp_path / "t.h5")
    assert sf.n_rows == 250
    with h5py.File(tmp_path / "t.h5") as f:
        spec, lab = f["4.0/Spectrogram"][:], f["4.0/Label"][:]
        cat = [s for s in f["4.0/Catalogue"][:]]
    np.testing.assert_array_equal(spec[100:200], spec[:100])
    np.testing.assert_array_equal(lab[200:], lab[:50])
    on = [dt.datetime.fromisoformat(json.loads(c)["dt_on"]) for c in cat]
    assert all(b > a for a, b in zip(on, on[1:]))
    assert [json.loads(c)["Index"] for c in cat] == list(range(250))
