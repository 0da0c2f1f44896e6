"""One unit of work: a station-channel-day (with margins from its neighbours) or one file, to spectrograms.

Why the margins: a day file filtered on its own has filter transients and a taper at both ends, and a
recursive STA/LTA starts cold at midnight. The reference's 5 % Hann taper of the whole day touched 72
minutes at each end (a false trigger 32 s after midnight, an event at 23:21 damped to 0.56 of its
amplitude). Here the day is read with `margin_s` of the previous and next days; the taper and the
LTA's warm-up lie inside the margin, only triggers whose onset lies inside the day are kept (so an
event across midnight is found once, by the day it starts in), and the margin data serve only as
context for filtering, detection and cutting.

Where the time goes (profiled on a 100 Hz station-day of the synthetic archive, today's code,
`gpuclust.data.waveforms.spectrograms_from_stream`, in benchmarks/bench_archive.py): 85-90 % in ObsPy's
polynomial detrend, which builds a Vandermonde matrix of 8.6 million rows and solves it by least
squares; most of the rest in the decimation and band-pass. The quadratic fit below needs five sums;
the other steps are ObsPy's own filters, called on arrays in place of Trace methods.

Gaps and overlaps are merged as ObsPy merges them (method 1: overlaps take the later trace's samples
where they disagree, gaps stay masked), then the trace is split at the gaps: each contiguous segment
is processed alone, and a window that would cross a gap is dropped, not zero-filled.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..data.make_spectrograms import SpectrogramParams, spectrograms
from ..data.waveforms import DetectionParams, triggers

OUTPUTS = {"disp": ("DISP", "m"), "vel": ("VEL", "m/s"), "acc": ("ACC", "m/s^2")}


@dataclass(frozen=True)
class UnitConfig:
    """What every unit is processed with (sent once to every worker)."""

    p: SpectrogramParams = SpectrogramParams()
    d: DetectionParams = DetectionParams()
    margin_s: float = 300.0
    taper_s: float = 60.0
    inventory: str | None = None  # StationXML path: remove the response
    output: str = "vel"
    units: str = "counts"  # of the data when no inventory is given

    @property
    def warmup_s(self) -> float:
        """Seconds after a segment's start before a trigger counts: the taper, then three LTA time constants."""
        return self.taper_s + 3 * self.d.lta_s

    @property
    def unit_name(self) -> str:
        return OUTPUTS[self.output][1] if self.inventory else self.units


@dataclass
class UnitResult:
    key: str
    spec: np.ndarray | None = None
    traces: np.ndarray | None = None
    catalogue: list = field(default_factory=list)
    skipped: str | None = None  # the reason, when the unit was skipped
    notes: list = field(default_factory=list)  # gpuclust's words for library warnings, once per file
    dropped_at_gaps: int = 0

    def __len__(self):
        return len(self.catalogue)


class SkipUnit(Exception):
    """This unit cannot be processed: the message says why; the job goes on without it."""


# -- reading ---------------------------------------------------------------------------------------

def _warning_words(path: str, w) -> str:
    text = str(w.message)
    low = text.lower()
    if "record" in low or "truncat" in low or "incomplete" in low or "integrity" in low:
        return f"{path}: damaged or truncated miniSEED records (ObsPy: {text.splitlines()[0]})"
    return f"{path}: ObsPy warned while reading it ({text.splitlines()[0]})"


def read_file(path: str, start=None, end=None, own: bool = True):
    """(stream, notes) of one file; a file that is empty, unreadable or damaged raises SkipUnit when it is the
    unit's own, and gives an empty stream (and a note) when it only provides a margin."""
    import obspy

    if not os.path.exists(path):
        raise SkipUnit(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        if own:
            raise SkipUnit(f"{path}: empty file")
        return obspy.Stream(), [f"{path}: empty file, its margin left out"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            st = obspy.read(path, starttime=start, endtime=end, nearest_sample=False)
        except Exception as e:  # ObsPy raises many types for files it cannot read
            if own:
                said = (str(e).splitlines() or [type(e).__name__])[0].replace(f" for file {path}", "")
                raise SkipUnit(f"{path}: not a waveform file ObsPy can read (ObsPy: {said})")
            return obspy.Stream(), [f"{path}: unreadable, its margin left out"]
    notes = list(dict.fromkeys(_warning_words(path, w) for w in caught))
    if notes and own and any("truncated" in n for n in notes):
        raise SkipUnit(notes[0])
    return st, notes


def read_unit(unit, cfg: UnitConfig):
    """The unit's traces (day plus margins for a day unit), and the notes on what was read."""
    import obspy
    from obspy import UTCDateTime

    st, notes = obspy.Stream(), []
    if unit.day is None:
        for f in unit.files:
            s, n = read_file(f)
            st += s
            notes += n
        return st, notes, None, None
    day0 = UTCDateTime(unit.day)
    day1 = day0 + 86400
    m = cfg.margin_s
    for f in unit.before:
        s, n = read_file(f, day0 - m, day0, own=False)
        st += s
        notes += n
    for f in unit.files:
        s, n = read_file(f, day0 - m, day1 + m)
        st += s
        notes += n
    for f in unit.after:
        s, n = read_file(f, day1, day1 + m, own=False)
        st += s
        notes += n
    return st, notes, day0, day1


# -- the pre-filter, on one contiguous segment --------------------------------------------------------
# The same operations as the reference's (ObsPy's Trace.detrend, taper, decimate, filter), on arrays and in
# place where possible: on this machine a fresh 70 MB array costs as much as a filter pass over it.

BLOCK = 1 << 20


def detrend_quadratic(x: np.ndarray) -> np.ndarray:
    """x minus its least-squares quadratic, in place, from five sums over blocks.

    ObsPy's polynomial detrend builds an n x 3 Vandermonde matrix and solves it by least squares: 85 % of
    the reference's time on a 100 Hz station-day.
    """
    n = x.size
    step = 2.0 / (n - 1) if n > 1 else 0.0
    sums, b = np.zeros(5), np.zeros(3)
    for lo in range(0, n, BLOCK):
        t = -1.0 + step * np.arange(lo, min(lo + BLOCK, n))
        t2 = t * t
        xs = x[lo:lo + t.size]
        sums += (t.size, t.sum(), t2.sum(), (t2 * t).sum(), (t2 * t2).sum())
        b += (xs.sum(), t @ xs, t2 @ xs)
    s0, s1, s2, s3, s4 = sums
    c = np.linalg.lstsq(np.array([[s0, s1, s2], [s1, s2, s3], [s2, s3, s4]]), b, rcond=None)[0]
    for lo in range(0, n, BLOCK):
        t = -1.0 + step * np.arange(lo, min(lo + BLOCK, n))
        x[lo:lo + t.size] -= c[0] + t * (c[1] + c[2] * t)
    return x


def taper_ends(x: np.ndarray, n_taper: int) -> np.ndarray:
    """A Hann taper on the first and last n_taper samples only (inside the margins)."""
    n_taper = min(n_taper, x.size // 2)
    if n_taper > 0:
        w = 0.5 * (1 - np.cos(np.pi * np.arange(n_taper) / n_taper))
        x[:n_taper] *= w
        x[-n_taper:] *= w[::-1]
    return x


def prefilter(tr, cfg: UnitConfig, inventory=None):
    """Detrend, taper the ends, remove the response, decimate to p.fs, band-pass: one contiguous trace."""
    from obspy.signal.filter import bandpass, integer_decimation, lowpass_cheby_2

    p = cfg.p
    x = tr.data if tr.data.dtype == np.float64 else tr.data.astype(np.float64)
    tr.data = taper_ends(detrend_quadratic(x), int(cfg.taper_s * tr.stats.sampling_rate))
    if inventory is not None:
        nyq = tr.stats.sampling_rate / 2
        pre = (0.5 * p.fmin, 0.8 * p.fmin, min(1.5 * p.fmax, 0.8 * nyq), min(2 * p.fmax, 0.95 * nyq))
        try:
            tr.remove_response(inventory=inventory, output=OUTPUTS[cfg.output][0], pre_filt=pre,
                               water_level=None, taper=False)
        except Exception as e:  # no matching channel or epoch in the inventory
            raise SkipUnit(f"{tr.id}: the inventory has no response for it at {tr.stats.starttime.date} "
                           f"({str(e).splitlines()[0]})")
    fs = tr.stats.sampling_rate
    if abs(fs - p.fs) > 1e-6:
        factor = fs / p.fs
        if abs(factor - round(factor)) < 1e-6 and 1 < round(factor) <= 16:
            q = int(round(factor))
            tr.data = integer_decimation(lowpass_cheby_2(tr.data, fs * 0.5 / q, fs, maxorder=12), q)
            tr.stats.sampling_rate = fs / q
        else:
            tr.resample(p.fs)
    tr.data = bandpass(tr.data, p.fmin, min(p.fmax, 0.45 * p.fs), p.fs, corners=4, zerophase=True)
    return tr


def contiguous(st):
    """The traces as contiguous segments: joined without a copy per piece when they abut exactly (the
    common case, a day and its margins), else merged the ObsPy way (method 1) and split at the gaps."""
    from obspy import Stream, Trace

    traces = sorted(st, key=lambda tr: (tr.id, tr.stats.starttime))
    ids = {tr.id for tr in traces}
    abut = len(ids) == 1 and all(
        abs((b.stats.starttime - a.stats.endtime) * a.stats.sampling_rate - 1) < 0.01
        for a, b in zip(traces, traces[1:]))
    if abut and len(traces) > 1:
        n = sum(tr.stats.npts for tr in traces)
        x, i = np.empty(n), 0
        for tr in traces:
            x[i:i + tr.stats.npts] = tr.data
            i += tr.stats.npts
        head = traces[0].stats.copy()
        head.npts = n
        return [Trace(x, header=head)]
    if len(traces) == 1:
        return traces
    for tr in traces:  # a day file and its neighbour's margin may differ in dtype (Steim int32, float32): merge refuses
        tr.data = tr.data.astype(np.float64, copy=False)
    merged = Stream(traces)
    merged.merge(method=1, fill_value=None)
    return list(merged.split())


# -- detection and cutting ----------------------------------------------------------------------

def process_unit(unit, cfg: UnitConfig) -> UnitResult:
    """Spectrograms of one unit; a unit that cannot be processed comes back with `skipped` set.

    On one BLAS thread: the units are the parallelism, and BLAS threads of several workers (or of a
    neighbour's job) spinning on the same cores slow every one of them down.
    """
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(1):
            return _process(unit, cfg)
    except SkipUnit as e:
        return UnitResult(unit.key, skipped=str(e))
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as e:  # one odd unit (an ObsPy or SciPy error nobody foresaw) must not sink the job
        return UnitResult(unit.key, skipped=f"{unit.key}: could not be processed ({type(e).__name__}: {e})")


_INVENTORIES: dict = {}


def _inventory(path):
    """Read once per worker process."""
    if path is None:
        return None
    if path not in _INVENTORIES:
        import obspy

        _INVENTORIES[path] = obspy.read_inventory(path)
    return _INVENTORIES[path]


def _process(unit, cfg: UnitConfig) -> UnitResult:
    p, d = cfg.p, cfg.d
    with warnings.catch_warnings(record=True) as caught:  # reading's were said in our words by read_file
        warnings.simplefilter("always")
        st, notes, day0, day1 = read_unit(unit, cfg)
        st = select_channels(st, d.channel)
        if not len(st):
            raise SkipUnit(f"{unit.key}: no {d.channel} channel data in {', '.join(unit.files)}")
        st, left_out = in_band(st, p, unit.key)
        notes += left_out
        segments = contiguous(st)
        del st
        inv = _inventory(cfg.inventory)
        need_s = cfg.warmup_s + p.min_samples / p.fs
        long_enough = [tr.stats.npts / tr.stats.sampling_rate >= need_s for tr in segments]
        out = UnitResult(unit.key, notes=notes)
        specs, traces = [], []
        for tr in segments:
            if tr.stats.npts / tr.stats.sampling_rate < need_s:
                continue
            if day1 is not None and (tr.stats.endtime <= day0 or tr.stats.starttime >= day1):
                continue  # margin only
            tr = prefilter(tr, cfg, inv)
            s, t, c, dropped = _cut(tr, cfg, day0, day1)
            specs += s
            traces += t
            out.catalogue += c
            out.dropped_at_gaps += dropped
    out.notes += list(dict.fromkeys(f"{unit.key}: {str(w.message).splitlines()[0]}" for w in caught))
    if not any(long_enough):
        raise SkipUnit(f"{unit.key}: no stretch of data long enough ({need_s:.0f} s needed: the {cfg.taper_s:g} s "
                       f"taper, 3 x --lta {d.lta_s:g} s of warm-up and one window; a shorter --lta, or for a file "
                       f"outside an SDS archive a shorter --margin, whose fifth is the taper, needs less)")
    if specs:
        out.spec = np.concatenate(specs)
        out.traces = np.concatenate(traces)
    return out


def _cut(tr, cfg: UnitConfig, day0, day1):
    p, d = cfg.p, cfg.d
    fs = p.fs
    x = tr.data.astype(np.float32)
    half = int((p.search_s + p.n_frames * p.hop / fs) * fs)
    t0 = tr.stats.starttime
    warm = int(round(cfg.warmup_s * fs))
    lo_day = 0 if day0 is None else int(np.ceil((day0 - t0) * fs))
    hi_day = x.size if day1 is None else int(np.ceil((day1 - t0) * fs))
    kept, dropped = [], 0
    for on, off in triggers(x, fs, d, warm):
        if not lo_day <= on < hi_day:
            continue  # the neighbouring day's (or only margin): counted there
        if on - half < 0 or on + half > x.size:
            dropped += 1  # the window would reach into a gap or past the data: not zero-filled
            continue
        kept.append((on, off))
    if not kept:
        return [], [], [], dropped
    ons = np.array([k[0] for k in kept])
    segs = np.stack([x[on - half: on + half] for on in ons])
    peaks = np.array([on + int(np.abs(x[on: max(off, on + 1)]).argmax()) for on, off in kept])
    spec, traces, first = spectrograms(segs, peaks - (ons - half), p)
    st = tr.stats
    cat = []
    unit = cfg.unit_name
    for i, (on, off) in enumerate(kept):
        s_start = t0 + (on - half + int(first[i])) / fs
        cat.append({
            "network": st.network, "station": st.station, "location": st.location, "channel": st.channel,
            "id": tr.id,
            "dt_on": str(t0 + on / fs), "dt_off": str(t0 + off / fs), "dt_peak": str(t0 + int(peaks[i]) / fs),
            "peak": float(abs(x[peaks[i]])), "unit": unit, "fs": fs, "delta": 1 / fs,
            "npts": p.trace_len, "STA": d.sta_s, "LTA": d.lta_s, "on": d.on, "off": d.off,
            "spec_start": str(s_start), "spec_stop": str(s_start + p.n_frames * p.hop / fs),
        })
    return [spec], [traces], cat, dropped


def in_band(st, p: SpectrogramParams, key: str):
    """(traces, notes): every trace is brought to p.fs later, whatever its rate, except those sampled too slowly
    for the band (Nyquist frequency not above p.fmax: nothing real up there), which are left out and named; a
    unit with none left, or with one channel at two rates (ObsPy cannot merge it), is skipped."""
    import obspy

    rates: dict = {}
    for tr in st:
        rates.setdefault(tr.id, set()).add(tr.stats.sampling_rate)
    for i, r in rates.items():
        if len(r) > 1:
            raise SkipUnit(f"{key}: {i} sampled at {' and '.join(f'{x:g}' for x in sorted(r))} Hz")
    slow = {i: min(r) for i, r in rates.items() if p.fmax >= min(r) / 2}
    said = ", ".join(f"{i} sampled at {r:g} Hz" for i, r in slow.items())
    if len(slow) == len(rates):
        raise SkipUnit(f"{key}: {said}, whose Nyquist frequency is not above --fmax {p.fmax:g} Hz")
    notes = [f"{key}: {said} left out: its Nyquist frequency is not above --fmax {p.fmax:g} Hz"] if slow else []
    return obspy.Stream([tr for tr in st if tr.id not in slow]), notes


def select_channels(st, patterns: str):
    """Traces whose channel matches one of the comma-separated wildcards."""
    import fnmatch

    import obspy

    pats = [x.strip() for x in patterns.split(",") if x.strip()]
    return obspy.Stream([tr for tr in st if any(fnmatch.fnmatchcase(tr.stats.channel, x) for x in pats)])
