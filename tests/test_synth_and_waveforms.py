"""The synthetic benchmark and spectrograms made from real ObsPy waveforms."""
import os

import h5py
import numpy as np
import pytest

from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.synth import CLASS_NAMES, CLASSES, write_synthetic
from gpuclust.data.waveforms import DetectionParams, waveforms_to_ris
from gpuclust.errors import GpuclustError


def test_synthetic_is_deterministic_per_seed(tmp_path):
    a, b, c = (tmp_path / f"{n}.h5" for n in "abc")
    write_synthetic(a, 300, seed=7)
    write_synthetic(b, 300, seed=7)
    write_synthetic(c, 300, seed=8)
    sa, sb, sc = (open_spectrograms(p) for p in (a, b, c))
    np.testing.assert_array_equal(sa.read_block(0, 300), sb.read_block(0, 300))
    np.testing.assert_array_equal(sa.labels(), sb.labels())
    assert not np.array_equal(sa.labels(), sc.labels())


def test_synthetic_is_ris_layout_with_unequal_classes(synth_file):
    sf = open_spectrograms(synth_file)
    assert sf.layout == "ris" and sf.shape == (87, 100) and sf.n_rows == 1200
    np.testing.assert_allclose(sf.freqs[[0, -1]], [3.125, 19.921875])
    np.testing.assert_allclose(sf.times[[0, -1]], [0, 3.96], atol=1e-6)
    assert sf.class_names == CLASS_NAMES and len(CLASS_NAMES) >= 8
    counts = np.bincount(sf.labels(), minlength=len(CLASSES)) / sf.n_rows
    shares = np.array([c[1] for c in CLASSES])
    np.testing.assert_allclose(counts, shares, atol=0.04)  # unequal: noise common, tremor rare
    assert counts.max() > 3 * counts.min()
    assert np.isfinite(sf.read_block(0, sf.n_rows)).all()
    cat = sf.catalogue([10])[0]
    assert cat["network"] == "XH" and cat["channel"] == "HHZ" and cat["class"] == CLASS_NAMES[sf.labels([10])[0]]
    assert os.path.exists(str(synth_file) + ".csv")


def test_classes_differ_in_their_spectra(synth_file):
    """Mean spectra of the classes are distinct: the benchmark carries information to recover."""
    sf = open_spectrograms(synth_file)
    x = sf.read_block(0, sf.n_rows)
    x /= np.linalg.norm(x.reshape(len(x), -1), axis=1)[:, None, None]
    y = sf.labels()
    profiles = np.stack([x[y == c].mean(axis=(0, 2)) for c in range(len(CLASSES))])
    peak_freq = sf.freqs[profiles[1:].argmax(axis=1)]  # event classes
    assert peak_freq.max() - peak_freq.min() > 4  # swell low, icequake high


def real_waveform():
    import obspy

    return os.path.join(os.path.dirname(obspy.__file__), "signal", "tests", "data", "CRLZ.HHZ.10.NZ.SAC")


def test_spectrograms_from_a_real_obspy_recording(tmp_path):
    out = tmp_path / "real.h5"
    n = waveforms_to_ris([real_waveform()], out, d=DetectionParams(on=3.0, off=1.5))
    assert n >= 3
    sf = open_spectrograms(out)
    assert sf.n_rows == n and sf.shape == (87, 100)
    x = sf.read_block(0, n)
    assert np.isfinite(x).all() and (x > 0).all()
    cat = sf.catalogue()
    assert {c["station"] for c in cat} == {"CRLZ"} and cat[0]["channel"] == "HHZ"
    with h5py.File(out) as h5:
        assert h5["4.0"].attrs["NFFT"] == 256 and np.isnan(h5["4.0/Spectrogram"][0, -1, 0])
    # Append safely, then the file holds both.
    waveforms_to_ris([real_waveform()], out, d=DetectionParams(on=3.0, off=1.5), append=True)
    assert open_spectrograms(out).n_rows == 2 * n
    assert [c["Index"] for c in open_spectrograms(out).catalogue()] == list(range(2 * n))


def test_interrupted_append_leaves_file_intact(tmp_path, monkeypatch):
    out = tmp_path / "real.h5"
    n = waveforms_to_ris([real_waveform()], out, d=DetectionParams(on=3.0, off=1.5))
    before = out.read_bytes()
    from gpuclust.data import ris_writer

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ris_writer, "embed_axes", boom)
    with pytest.raises(KeyboardInterrupt):
        waveforms_to_ris([real_waveform()], out, d=DetectionParams(on=3.0, off=1.5), append=True)
    assert out.read_bytes() == before and open_spectrograms(out).n_rows == n
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_waveform_errors(tmp_path):
    with pytest.raises(GpuclustError, match="no such file"):
        waveforms_to_ris([str(tmp_path / "none.mseed")], tmp_path / "o.h5")
    bad = tmp_path / "bad.mseed"
    bad.write_text("garbage")
    with pytest.raises(GpuclustError, match="ObsPy cannot read"):
        waveforms_to_ris([str(bad)], tmp_path / "o.h5")
    with pytest.raises(GpuclustError, match="no events detected"):
        waveforms_to_ris([real_waveform()], tmp_path / "o.h5", d=DetectionParams(on=1e6, off=1e5))
    assert not (tmp_path / "o.h5").exists()


def test_waveforms_too_slow_for_the_band_are_refused(tmp_path):
    """Regression: 1, 4 and 20 Hz recordings made '3-20 Hz' spectrograms with nothing real above Nyquist."""
    import obspy

    st = obspy.read(real_waveform())
    for fs in (1.0, 4.0, 20.0):
        slow = st.copy().resample(fs)
        path = tmp_path / f"slow{fs:g}.mseed"
        slow.write(str(path), format="MSEED")
        with pytest.raises(GpuclustError, match=f"sampled at {fs:g} Hz.*Nyquist"):
            waveforms_to_ris([str(path)], tmp_path / "o.h5", d=DetectionParams(on=3.0, off=1.5))
    assert not (tmp_path / "o.h5").exists()


def test_location_codes_and_units_are_kept(tmp_path):
    """Regression: IU.AFI.00 and IU.AFI.10 looked like one channel; raw counts were labelled m/s."""
    import obspy

    st = obspy.read(real_waveform())
    a, b = st.copy(), st.copy()
    for tr in a:
        tr.stats.location = "00"
    for tr in b:
        tr.stats.location = "10"
    path = tmp_path / "two.mseed"
    (a + b).write(str(path), format="MSEED")
    out = tmp_path / "o.h5"
    waveforms_to_ris([str(path)], out, d=DetectionParams(on=3.0, off=1.5))
    cat = open_spectrograms(out).catalogue()
    assert {c["location"] for c in cat} == {"00", "10"} and {c["unit"] for c in cat} == {"counts"}
    assert len({c["id"] for c in cat}) == 2
    with h5py.File(out) as h5:
        assert h5["4.0/Spectrogram"].attrs["AmplUnits"] == "counts^2/Hz"


def test_append_refuses_spectrograms_made_otherwise(tmp_path):
    from gpuclust.data.make_spectrograms import SpectrogramParams

    out = tmp_path / "o.h5"
    waveforms_to_ris([real_waveform()], out, d=DetectionParams(on=3.0, off=1.5))
    before = out.read_bytes()
    with pytest.raises(GpuclustError, match="other parameters.*fmax"):
        waveforms_to_ris([real_waveform()], out, SpectrogramParams(fmax=15.0), DetectionParams(on=3.0, off=1.5),
                         append=True)
    with pytest.raises(GpuclustError, match="other parameters.*units"):
        waveforms_to_ris([real_waveform()], out, d=DetectionParams(on=3.0, off=1.5), append=True, units="m/s")
    assert out.read_bytes() == before
