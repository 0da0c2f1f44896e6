"""From waveform files to spectrograms: the reference detection and cutting (RIS_FORMAT.md).

Pre-filter (polynomial detrend, Hann taper, decimate to 50 Hz, zero-phase
band-pass), recursive STA/LTA, triggers closer than `min_gap_s` to an earlier
one at the same station dropped, then a spectrogram window centred on the
power peak near each detection. Anything ObsPy reads (miniSEED, SAC, ...) works.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import GpuclustError
from .ris_writer import RISWriter
from .spectrogram import SpectrogramParams, spectrograms


@dataclass(frozen=True)
class DetectionParams:
    sta_s: float = 0.5
    lta_s: float = 30.0
    on: float = 15.0
    off: float = 10.0
    min_gap_s: float = 5.0
    channel: str = "*Z"  # which channels to use (ObsPy wildcard)


@dataclass
class Detections:
    spec: list = field(default_factory=list)
    traces: list = field(default_factory=list)
    catalogue: list = field(default_factory=list)

    def __len__(self):
        return len(self.catalogue)


def preprocess(tr, p: SpectrogramParams):
    """Detrend, taper, bring to p.fs, band-pass: the reference's pre-filtering of one ObsPy Trace."""
    tr = tr.copy()
    tr.data = tr.data.astype(np.float64)
    tr.detrend("polynomial", order=2)
    tr.taper(max_percentage=0.05, type="hann")
    fs = tr.stats.sampling_rate
    if abs(fs - p.fs) > 1e-6:
        factor = fs / p.fs
        if abs(factor - round(factor)) < 1e-6 and round(factor) > 1:
            tr.decimate(int(round(factor)), no_filter=False)
        else:
            tr.resample(p.fs)
    tr.filter("bandpass", freqmin=p.fmin, freqmax=min(p.fmax, 0.45 * p.fs), zerophase=True)
    return tr


def detect(tr, d: DetectionParams) -> list[tuple[int, int]]:
    """(on, off) sample pairs of recursive STA/LTA triggers, later ones within min_gap_s dropped."""
    from obspy.signal.trigger import recursive_sta_lta, trigger_onset

    fs = tr.stats.sampling_rate
    nsta, nlta = int(d.sta_s * fs), int(d.lta_s * fs)
    if tr.stats.npts <= nlta:
        return []
    cft = recursive_sta_lta(tr.data, nsta, nlta)
    cft[:nlta] = 0  # the ratio is meaningless until the long window has filled
    kept, last = [], -np.inf
    for on, off in trigger_onset(cft, d.on, d.off):
        if on - last >= d.min_gap_s * fs:
            kept.append((int(on), int(off)))
            last = on
    return kept


def spectrograms_from_stream(stream, p: SpectrogramParams = SpectrogramParams(),
                             d: DetectionParams = DetectionParams()) -> Detections:
    out = Detections()
    half = int((p.search_s + p.n_frames * p.hop / p.fs) * p.fs)
    for raw in stream.select(channel=d.channel):
        tr = preprocess(raw, p)
        x = tr.data.astype(np.float32)
        for on, off in detect(tr, d):
            seg_lo = max(0, on - half)
            seg = x[seg_lo: on + half]
            if seg.size < p.min_samples:
                continue
            peak = on + int(np.abs(x[on: max(off, on + 1)]).argmax())
            spec, traces, first = spectrograms(seg[None], np.array([peak - seg_lo]), p)
            t0 = tr.stats.starttime
            s_start = t0 + (seg_lo + first[0]) / p.fs
            st = tr.stats
            out.spec.append(spec[0])
            out.traces.append(traces[0])
            out.catalogue.append({
                "network": st.network, "station": st.station, "channel": st.channel,
                "dt_on": str(t0 + on / p.fs), "dt_off": str(t0 + off / p.fs), "dt_peak": str(t0 + peak / p.fs),
                "peak": float(abs(x[peak])), "unit": "m/s", "fs": p.fs, "delta": 1 / p.fs,
                "npts": p.trace_len, "STA": d.sta_s, "LTA": d.lta_s, "on": d.on, "off": d.off,
                "spec_start": str(s_start), "spec_stop": str(s_start + p.n_frames * p.hop / p.fs),
            })
    return out


def waveforms_to_ris(inputs, output, p: SpectrogramParams = SpectrogramParams(),
                     d: DetectionParams = DetectionParams(), append: bool = False) -> int:
    """Detect events in every waveform file and write their spectrograms to `output` (RIS layout).

    Returns the number of spectrograms written. The output appears (or grows) only when all went well.
    """
    import obspy

    found = Detections()
    for path in inputs:
        if not os.path.exists(path):
            raise GpuclustError(f"{path}: no such file")
        try:
            stream = obspy.read(path)
        except Exception as e:  # ObsPy raises many types for unreadable files
            raise GpuclustError(f"{path}: ObsPy cannot read it as a waveform file ({type(e).__name__}: {e})")
        got = spectrograms_from_stream(stream, p, d)
        for name in ("spec", "traces", "catalogue"):
            getattr(found, name).extend(getattr(got, name))
    if not len(found):
        raise GpuclustError(
            f"no events detected in {len(inputs)} file(s) with STA/LTA on={d.on}, off={d.off}; "
            "try lower --on/--off thresholds"
        )
    with RISWriter(output, p.freqs, p.times, t_seg=p.n_frames * p.hop / p.fs, nfft=p.nfft,
                   trace_len=p.trace_len, append=append) as w:
        w.write(np.stack(found.spec), np.stack(found.traces), found.catalogue)
    return len(found)
