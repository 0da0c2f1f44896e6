"""Reading the files users bring, normalising, splitting, and every bad input."""
import h5py
import numpy as np
import pytest

from gpuclust.data.loader import iter_batches, load_rows, usable_rows
from gpuclust.data.normalise import normalise
from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.splits import make_splits
from gpuclust.errors import GpuclustError
from tests.conftest import make_ris_file


def test_ris_layout_is_cropped_and_axes_kept(ris_file):
    path, raw = ris_file
    sf = open_spectrograms(path)
    assert sf.layout == "ris" and sf.n_rows == 50 and sf.shape == (87, 100)
    np.testing.assert_allclose(sf.freqs, raw[0, :-1, 0])
    np.testing.assert_allclose(sf.times, raw[0, -1, 1:])
    x = sf.read_rows([4, 0, 33])
    np.testing.assert_array_equal(x, raw[[4, 0, 33], :-1, 1:])
    assert sf.catalogue([2])[0]["station"] == "DR03"
    assert sf.traces([1, 2]).shape == (2, 199)


def test_nan_corner_is_not_a_bad_row_but_nan_pixels_are(ris_file):
    path, _ = ris_file
    sf = open_spectrograms(path)
    rows, n_bad = usable_rows(sf, "skip")
    assert n_bad == 2 and 3 not in rows and 17 not in rows and len(rows) == 48
    with pytest.raises(GpuclustError, match="2 row.*NaN or inf.*row 3"):
        usable_rows(sf, "refuse")


def test_any_image_size_and_group_choice(tmp_path):
    path = tmp_path / "small.h5"
    make_ris_file(path, m=10, f=30, t=40, group="2.0")
    sf = open_spectrograms(path)
    assert sf.shape == (30, 40) and sf.dataset == "/2.0/Spectrogram"
    with h5py.File(path, "a") as h5:
        h5.copy("2.0", "8.0")
    with pytest.raises(GpuclustError, match="several segment-length groups"):
        open_spectrograms(path)
    assert open_spectrograms(path, group="8.0").dataset == "/8.0/Spectrogram"


def test_plain_layout_with_axes_and_labels(tmp_path):
    path = tmp_path / "plain.h5"
    x = np.random.default_rng(0).random((12, 1, 16, 24)).astype(np.float32)
    with h5py.File(path, "w") as h5:
        h5["images"] = x
        h5["f"] = np.arange(16.0)
        h5["t"] = np.arange(24.0)
        h5["y"] = np.arange(12) % 3
    sf = open_spectrograms(path, dataset="images", freqs_dataset="f", times_dataset="t", labels_dataset="y")
    assert sf.layout == "plain" and sf.shape == (16, 24)
    np.testing.assert_array_equal(sf.read_rows([2, 7]), x[[2, 7], 0])
    np.testing.assert_array_equal(sf.labels([4, 5]), [1, 2])
    with pytest.raises(GpuclustError, match="time dataset 'f' has 16 values"):
        open_spectrograms(path, dataset="images", times_dataset="f")


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_text("not hdf5"), "not an HDF5 file"),
    (lambda p: h5py.File(p, "w").close(), "no RIS group"),
    (lambda p: h5py.File(p, "w").create_group("4.0").file.close(), "no RIS group"),
    (lambda p: h5py.File(p, "w").create_dataset("4.0/Spectrogram", data=np.zeros((3, 5))).file.close(),
     r"shape \(3, 5\)"),
    (lambda p: h5py.File(p, "w").create_dataset("4.0/Spectrogram", shape=(0, 88, 101), dtype="f4").file.close(),
     "empty"),
])
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.h5"
    make(path)
    with pytest.raises(GpuclustError, match=message) as e:
        open_spectrograms(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_plain_layout_errors(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as h5:
        h5["cube"] = np.zeros((4, 2, 5, 5))
    with pytest.raises(GpuclustError, match="no spectrogram dataset 'nope'"):
        open_spectrograms(path, dataset="nope")
    with pytest.raises(GpuclustError, match=r"expected \(N, H, W\)"):
        open_spectrograms(path, dataset="cube")


def test_all_rows_bad_is_an_error(tmp_path):
    path = tmp_path / "nan.h5"
    make_ris_file(path, m=3, nan_rows=(0, 1, 2))
    with pytest.raises(GpuclustError, match="no usable row"):
        usable_rows(open_spectrograms(path))


def test_normalisations():
    x = np.random.default_rng(1).random((5, 8, 9)).astype(np.float32) * 1e-9
    l2 = normalise(x, "l2")
    np.testing.assert_allclose(np.linalg.norm(l2.reshape(5, -1), axis=1), 1, rtol=1e-5)
    m = normalise(x, "maxabs")
    flat = m.reshape(5, -1)
    np.testing.assert_allclose(np.abs(flat).max(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(flat.mean(axis=1), np.zeros(5), atol=1e-5)
    assert normalise(np.zeros((2, 3, 3), np.float32)).sum() == 0  # zero images stay finite
    assert l2.dtype == np.float32 and x.max() < 1e-8  # input untouched
    with pytest.raises(GpuclustError, match="unknown normalisation"):
        normalise(x, "zscore")


def test_log_normalisation_values_floor_and_zero_rows():
    rng = np.random.default_rng(2)
    x = (rng.random((4, 6, 7)) * 1e-9).astype(np.float32)
    x[1] *= 1e6  # loudness must not matter
    x[2, 0, 0] = 0.0  # a pixel without power takes the floor, not -inf
    out = normalise(x, "log")
    flat = out.reshape(4, -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-5)  # the event's mean log level removed
    assert np.isfinite(out).all() and out.dtype == np.float32
    np.testing.assert_allclose(out[0], normalise(x[:1] * 1e6, "log")[0], atol=1e-4)  # scale-free
    # the floor: 1e-3 of the median power, so a zero pixel sits about 3 decades below a typical one
    median = np.median(x[2].reshape(-1)[::7])
    expect = np.log10(1e-3 * median) - np.log10(x[2].reshape(-1) + 1e-3 * median).mean()
    assert out[2, 0, 0] == pytest.approx(expect, abs=0.05)
    assert np.allclose(normalise(np.zeros((2, 3, 3), np.float32), "log"), 0)  # zero rows stay finite
    huge = x * np.float32(1e38) / x.max()
    assert np.isfinite(normalise(huge, "log")).all() and np.isfinite(normalise(huge, "l2")).all()
    np.testing.assert_allclose(np.linalg.norm(normalise(huge, "l2").reshape(4, -1), axis=1), 1, rtol=1e-5)



def test_log_aligned_puts_each_event_in_the_middle_of_the_window():
    rng = np.random.default_rng(3)
    floor = (1 + 0.01 * rng.random((6, 20))).astype(np.float32)  # a noise floor with no event
    event = np.outer([1, 5, 9, 5, 1, 1], [1e3, 4e2, 1e2, 3e1, 1e1]).astype(np.float32)  # impulsive, decaying
    early, late = floor.copy(), floor.copy()
    early[:, 2:7] += event
    late[:, 11:16] += event
    out = normalise(np.stack([early, late, floor, np.ones_like(floor)]), "log-aligned")
    plain = normalise(np.stack([early, late, floor, np.ones_like(floor)]), "log")
    # the same event early or late in the window comes out in the same place, with the same values
    np.testing.assert_allclose(out[0][:, 7:13], out[1][:, 7:13], atol=1e-2)
    # early: shifted later by 10 - centroid; the columns shifted in are each frequency's median level
    centroid_col = np.argmax(out[0].mean(axis=0))
    shift = int(np.flatnonzero(np.all(np.isclose(out[0], plain[0][:, :1]), axis=0))[0])  # where column 0 went
    assert 0 < shift and 8 <= centroid_col <= 10
    np.testing.assert_array_equal(out[0][:, shift:], plain[0][:, :20 - shift])
    median = np.sort(plain[0], axis=1)[:, 10:11]
    np.testing.assert_array_equal(out[0][:, :shift], np.broadcast_to(median, (6, shift)))
    # late: shifted earlier, nothing wrapped round from the start of the window
    assert np.all(np.isclose(out[1][:, -2:], np.sort(plain[1], axis=1)[:, 10:11]))
    assert not np.isclose(out[1][:, -3:], np.sort(plain[1], axis=1)[:, 10:11]).all()
    # a flat or constant spectrogram has no event to centre: unchanged, finite
    np.testing.assert_array_equal(out[3], plain[3])
    assert np.isfinite(out).all() and out.dtype == np.float32
    assert normalise(np.zeros((0, 6, 20), np.float32), "log-aligned").shape == (0, 6, 20)


def test_splits_reproducible_disjoint_and_keep_row_indices():
    rows = np.arange(0, 1000, 3)  # original file rows, e.g. after dropping bad ones
    a, b = make_splits(rows, (0.7, 0.2, 0.1), seed=5), make_splits(rows, (0.7, 0.2, 0.1), seed=5)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    allr = np.concatenate([a.train, a.val, a.test])
    assert len(np.unique(allr)) == len(rows) and set(allr) == set(rows)
    assert abs(len(a.train) - 0.7 * len(rows)) <= 1
    c = make_splits(rows, (0.7, 0.2, 0.1), seed=6)
    assert not np.array_equal(a.train, c.train)
    with pytest.raises(GpuclustError, match="split fractions"):
        make_splits(rows, (0.0, 0.3, 0.1))
    with pytest.raises(GpuclustError, match="split fractions"):
        make_splits(rows, (0.7, -0.2, 0.1))
    d = make_splits(rows, (7, 2, 1), seed=5)  # fractions are relative to their sum
    np.testing.assert_array_equal(d.train, a.train)


def test_batches_carry_their_row_index(ris_file):
    path, raw = ris_file
    sf = open_spectrograms(path)
    rows, _ = usable_rows(sf)
    seen = []
    for idx, x in iter_batches(sf, rows, batch_size=7, shuffle=True, seed=1, window=16, norm="none"):
        np.testing.assert_array_equal(x, raw[idx, :-1, 1:])
        seen.extend(idx)
    assert sorted(seen) == list(rows) and seen != sorted(seen)
    np.testing.assert_array_equal(load_rows(sf, [9, 2], "none"), raw[[9, 2], :-1, 1:])
