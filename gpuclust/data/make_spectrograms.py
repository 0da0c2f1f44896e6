"""Waveforms to spectrograms with the reference parameters (RIS_FORMAT.md), batched over rows."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import signal


@dataclass(frozen=True)
class SpectrogramParams:
    """Defaults reproduce the reference: 50 Hz, Kaiser(20, 5.7), overlap 18, NFFT 256, 3-20 Hz, 4 s."""

    fs: float = 50.0
    nperseg: int = 20
    beta: float = 5.7
    noverlap: int = 18
    nfft: int = 256
    fmin: float = 3.0
    fmax: float = 20.0
    n_frames: int = 100
    search_s: float = 5.0  # look for the power peak within this many seconds of the detection peak
    trace_len: int = 199

    def check(self) -> "SpectrogramParams":
        """One-line errors for parameters that cannot make a spectrogram (before any file is read)."""
        from ..errors import GpuclustError

        if self.fs <= 0:
            raise GpuclustError(f"--fs must be positive, got {self.fs}")
        if self.nperseg < 2 or not 0 <= self.noverlap < self.nperseg:
            raise GpuclustError(f"--noverlap ({self.noverlap}) must be at least 0 and less than --nperseg "
                                f"({self.nperseg})")
        if self.nfft < self.nperseg:
            raise GpuclustError(f"--nfft ({self.nfft}) must be at least --nperseg ({self.nperseg})")
        if not 0 <= self.fmin < self.fmax:
            raise GpuclustError(f"--fmin ({self.fmin} Hz) must be below --fmax ({self.fmax} Hz)")
        if self.fmax >= self.fs / 2:
            raise GpuclustError(f"--fmax ({self.fmax} Hz) must be below the Nyquist frequency of --fs {self.fs} Hz "
                                f"({self.fs / 2} Hz)")
        if not self._keep.any():
            raise GpuclustError(f"no frequency bin of a {self.nfft}-point FFT at {self.fs} Hz lies between --fmin "
                                f"{self.fmin} and --fmax {self.fmax} Hz")
        if self.n_frames < 1:
            raise GpuclustError(f"--frames must be at least 1, got {self.n_frames}")
        return self

    @property
    def hop(self) -> int:
        return self.nperseg - self.noverlap

    @property
    def _keep(self) -> np.ndarray:
        f = np.fft.rfftfreq(self.nfft, 1 / self.fs)
        return (f >= self.fmin) & (f <= self.fmax)

    @property
    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(self.nfft, 1 / self.fs)[self._keep]

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.hop / self.fs

    @property
    def min_samples(self) -> int:
        """Shortest waveform that yields n_frames frames."""
        return self.nperseg + (self.n_frames - 1) * self.hop


def spectrograms(x: np.ndarray, peak: np.ndarray, p: SpectrogramParams = SpectrogramParams()):
    """Spectrograms of rows of `x` (n, L) sampled at p.fs, each a window of p.n_frames frames
    centred on the peak of frequency-summed power within p.search_s of the sample `peak[i]`.

    Returns (spec (n, F, T) float32 PSD, traces (n, p.trace_len) float32, first_sample (n,)).
    """
    x = np.asarray(x, dtype=np.float32)
    n, length = x.shape
    if length < p.min_samples:
        raise ValueError(f"waveforms of {length} samples are shorter than the {p.min_samples} a spectrogram needs")
    with scipy.fft.set_workers(os.cpu_count() or 1):
        _, t, s = signal.spectrogram(
            x, fs=p.fs, window=("kaiser", p.beta), nperseg=p.nperseg, noverlap=p.noverlap,
            nfft=p.nfft, scaling="density", mode="psd", axis=-1,
        )
    s = s[:, p._keep, :]
    power = s.sum(axis=1)
    peak_t = np.asarray(peak, dtype=float)[:, None] / p.fs
    power = np.where(np.abs(t[None, :] - peak_t) <= p.search_s, power, -np.inf)
    centre = power.argmax(axis=1)
    n_t = s.shape[2]
    start = np.clip(centre - p.n_frames // 2, 0, n_t - p.n_frames)
    frames = start[:, None] + np.arange(p.n_frames)[None, :]
    spec = np.take_along_axis(s, frames[:, None, :], axis=2).astype(np.float32)
    first = start * p.hop
    idx = np.clip(first[:, None] + np.arange(p.trace_len)[None, :], 0, length - 1)
    traces = np.take_along_axis(x, idx, axis=1)
    return spec, traces, first


def bandpass(x: np.ndarray, fs: float, fmin: float = 3.0, fmax: float = 20.0, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis (the reference's pre-filter)."""
    sos = signal.butter(order, [fmin, min(fmax, 0.499 * fs)], btype="bandpass", fs=fs, output="sos")
    return signal.sosfiltfilt(sos, x, axis=-1).astype(np.float32)
