"""From waveform files to spectrograms: the reference detection and cutting (RIS_FORMAT.md).

Pre-filter (polynomial detrend, Hann taper, decimate to 50 Hz, zero-phase
band-pass), recursive STA/LTA, triggers closer than `min_gap_s` to an earlier
one at the same station dropped, then a spectrogram window centred on the
power peak near each detection. Anything ObsPy reads (miniSEED, SAC, ...) works.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import GpuclustError
from .ris_writer import RISWriter
from .make_spectrograms import SpectrogramParams, spectrograms


@dataclass(frozen=True)
class DetectionParams:
    channel: str = "*Z"  # which channels to use (ObsPy wildcard)
    sta_s: float = 0.5
    lta_s: float = 30.0
    on: float = 15.0
    off: float = 10.0
    min_gap_s: float = 5.0

    def check(self) -> "DetectionParams":
        if not 0 < self.sta_s < self.lta_s:
            raise GpuclustError(f"--sta ({self.sta_s} s) must be positive and shorter than --lta ({self.lta_s} s)")
        if self.on <= 0 or self.off <= 0:
            raise GpuclustError("--on and --off must be positive STA/LTA ratios")
        if self.min_gap_s < 0:
            raise GpuclustError(f"--min-gap must be at least 0, got {self.min_gap_s}")
        return self


def check_band(tr, p: SpectrogramParams) -> None:
    """Refuse a trace sampled too slowly for the band: above its Nyquist frequency nothing in it is real."""
    fs = tr.stats.sampling_rate
    if p.fmax >= fs / 2:
        raise GpuclustError(
            f"{tr.id} is sampled at {fs:g} Hz: its Nyquist frequency ({fs / 2:g} Hz) is not above the band's top "
            f"(--fmax {p.fmax:g} Hz), so the spectrograms would hold nothing real there; lower --fmax below "
            f"{fs / 2:g} Hz or leave this file out")


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


def triggers(x: np.ndarray, fs: float, d: DetectionParams, first_valid: int) -> list[tuple[int, int]]:
    """(on, off) of recursive STA/LTA triggers from sample first_valid on, later ones within min_gap dropped."""
    from obspy.signal.trigger import recursive_sta_lta, trigger_onset

    nsta, nlta = int(d.sta_s * fs), int(d.lta_s * fs)
    if x.size <= max(nlta, first_valid):
        return []
    cft = recursive_sta_lta(x, nsta, nlta)
    cft[:first_valid] = 0
    kept, last = [], -np.inf
    for on, off in trigger_onset(cft, d.on, d.off):
        if on - last >= d.min_gap_s * fs:
            kept.append((int(on), int(off)))
            last = on
    return kept


def detect(tr, d: DetectionParams) -> list[tuple[int, int]]:
    """(on, off) sample pairs of recursive STA/LTA triggers, later ones within min_gap_s dropped."""
    # the ratio is meaningless until the long window has filled
    return triggers(tr.data, tr.stats.sampling_rate, d, first_valid=int(d.lta_s * tr.stats.sampling_rate))


def spectrograms_from_stream(stream, p: SpectrogramParams = SpectrogramParams(),
                             d: DetectionParams = DetectionParams(), units: str = "counts") -> Detections:
    out = Detections()
    half = int((p.search_s + p.n_frames * p.hop / p.fs) * p.fs)
    for raw in stream.select(channel=d.channel):
        check_band(raw, p)
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
                "network": st.network, "station": st.station, "location": st.location, "channel": st.channel,
                "id": tr.id,
                "dt_on": str(t0 + on / p.fs), "dt_off": str(t0 + off / p.fs), "dt_peak": str(t0 + peak / p.fs),
                "peak": float(abs(x[peak])), "unit": units, "fs": p.fs, "delta": 1 / p.fs,
                "npts": p.trace_len, "STA": d.sta_s, "LTA": d.lta_s, "on": d.on, "off": d.off,
                "spec_start": str(s_start), "spec_stop": str(s_start + p.n_frames * p.hop / p.fs),
            })
    return out


def waveforms_to_ris(inputs, output, p: SpectrogramParams = SpectrogramParams(),
                     d: DetectionParams = DetectionParams(), append: bool = False, units: str = "counts",
                     skipped: list | None = None) -> int:
    """Detect events in every waveform file and write their spectrograms to `output` (RIS layout).

    Returns the number of spectrograms written. The output appears (or grows) only when all went well;
    appending needs the parameters the file was made with (they are stored in it). Given a list as `skipped`,
    a file that cannot be read or cut is added to it as (path, reason) and the rest go on; without one, the
    first such file ends the job (`--append`: a file is added whole or not at all).
    """
    import obspy

    # What makes spectrograms comparable; detection thresholds may differ from file to file
    # (the catalogue keeps them per row).
    params = {**asdict(p), "units": units}
    if append and os.path.exists(output):
        check_same_parameters(output, params)
    found = Detections()
    for path in inputs:
        try:
            if not os.path.exists(path):
                raise GpuclustError(f"{path}: no such file")
            try:
                stream = obspy.read(path)
            except Exception as e:  # ObsPy raises many types for unreadable files
                raise GpuclustError(f"{path}: ObsPy cannot read it as a waveform file ({type(e).__name__}: {e})")
            got = spectrograms_from_stream(stream, p, d, units)
        except GpuclustError as e:
            if skipped is None:
                raise
            skipped.append((path, str(e)))
            continue
        for name in ("spec", "traces", "catalogue"):
            getattr(found, name).extend(getattr(got, name))
    if skipped and len(skipped) == len(inputs):
        raise GpuclustError(f"none of the {len(inputs)} waveform file(s) could be used; the first: {skipped[0][1]}")
    if not len(found):
        raise GpuclustError(
            f"no events detected in {len(inputs)} file(s) with STA/LTA on={d.on}, off={d.off}; "
            "try lower --on/--off thresholds"
        )
    with RISWriter(output, p.freqs, p.times, t_seg=p.n_frames * p.hop / p.fs, nfft=p.nfft,
                   trace_len=p.trace_len, append=append, params=params,
                   amplitude_units="counts^2/Hz" if units == "counts" else "(m/s)^2/Hz") as w:
        w.write(np.stack(found.spec), np.stack(found.traces), found.catalogue)
    return len(found)


def check_same_parameters(path, params: dict) -> None:
    """--append only adds rows made the same way: refuse a file made with other parameters."""
    import json

    from .spectrograms import _is_ris_group, open_h5

    with open_h5(path) as h5:
        groups = [g for g in h5.values() if _is_ris_group(g)]
        stored = [json.loads(g.attrs["gpuclust_params"]) for g in groups if "gpuclust_params" in g.attrs]
    if not groups:
        raise GpuclustError(f"{path}: has no RIS spectrogram group to append to")
    if not stored:
        raise GpuclustError(f"{path}: was not made by `gpuclust spectrograms` (its parameters are not recorded); "
                            "write the new spectrograms to a new file")
    diff = {k: (stored[0].get(k), v) for k, v in params.items() if stored[0].get(k) != v}
    if diff:
        said = ", ".join(f"{k} {a} in the file, {b} now" for k, (a, b) in sorted(diff.items()))
        raise GpuclustError(f"{path}: cannot append spectrograms made with other parameters ({said})")
