"""Many units to one RIS file: in parallel, streamed in a fixed order, resumable, bad units skipped.

Order: units are sorted (sources.find_units) and their rows are written in that order whatever
finishes first; a result that arrives early waits for the ones before it. At most `window` units are
in flight or waiting, so memory is bounded by the workers times one unit, not by the archive.

Resume: the job writes OUT.h5.partial (never the final name) and, after each unit's rows, appends the
unit to a manifest in the file (/archive_manifest: key, rows, skip reason) and flushes. Because units
are written in order, the finished units are always a prefix of the sorted list: a rerun of the same
command truncates the datasets to the manifest (a write cut off by a kill is dropped) and continues
with the next unit, which makes the same file an uninterrupted run makes. The job's parameters and its
list of units are stored, so a partial file of another command is never continued by mistake.
At the end the catalogue CSV and OUT.h5.skipped.csv are written and the file is renamed to OUT.h5.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field

import h5py
import numpy as np

from ..atomic import UnfailingFile, _umask, atomic_path
from ..data.ris_writer import CATALOGUE_FIELDS, embed_axes
from ..errors import GpuclustError
from .unit import UnitConfig, UnitResult, process_unit

MANIFEST = "archive_manifest"
FORMAT = 1


@dataclass
class Summary:
    units: int = 0
    done_before: int = 0  # units found finished in the partial file
    rows: int = 0
    skipped: list = field(default_factory=list)  # (key, reason)
    notes: list = field(default_factory=list)
    dropped_at_gaps: int = 0
    seconds: float = 0.0
    output: str = ""

    def report(self) -> list[str]:
        """The closing summary: notes, skipped units, totals."""
        s = self
        out = []
        for note in list(dict.fromkeys(s.notes))[:20]:
            out.append(f"note: {note}")
        for key, reason in s.skipped[:20]:
            out.append(skipped_line(key, reason))
        if len(s.skipped) > 20:
            out.append(f"... and {len(s.skipped) - 20} more skipped")
        rate = (s.units - s.done_before) / s.seconds if s.seconds > 0 else 0.0
        out.append(f"wrote {s.rows} spectrograms from {s.units - len(s.skipped)} of {s.units} units to {s.output}"
                   + (f" ({s.done_before} finished before, resumed)" if s.done_before else "")
                   + (f" in {s.seconds:.1f} s ({rate:.2f} units/s)" if s.seconds > 0 else "")
                   + (f"; {len(s.skipped)} skipped, listed in {s.output}.skipped.csv" if s.skipped else "")
                   + (f"; {s.dropped_at_gaps} detections dropped: their window crossed a gap" if s.dropped_at_gaps
                      else ""))
        return out


def job_identity(cfg: UnitConfig, units) -> dict:
    keys = "\n".join(u.key for u in units)
    return {"format": FORMAT, "params": _params(cfg), "units": len(units),
            "units_sha1": hashlib.sha1(keys.encode()).hexdigest()}


def _params(cfg: UnitConfig) -> dict:
    """What makes spectrograms comparable (stored as gpuclust_params, as the single-process writer does)."""
    return {**asdict(cfg.p), "units": cfg.unit_name}


def _detection(cfg: UnitConfig) -> dict:
    return {**asdict(cfg.d), "margin_s": cfg.margin_s, "taper_s": cfg.taper_s,
            "inventory": os.path.abspath(cfg.inventory) if cfg.inventory else None, "output": cfg.output}


class StreamWriter:
    """The partial RIS file: rows appended unit by unit, each followed by its manifest entry and a flush."""

    def __init__(self, path: str, cfg: UnitConfig, identity: dict):
        self.path, self.partial = path, path + ".partial"
        self.cfg = cfg
        p = cfg.p
        self.group = f"{p.n_frames * p.hop / p.fs:.1f}"
        self.identity = json.dumps({**identity, "detection": _detection(cfg)}, sort_keys=True)
        self.done: list[dict] = []
        if os.path.exists(self.partial):
            try:
                self._reopen()
                return
            except (OSError, KeyError, ValueError) as e:
                # never wipe hours of finished units on a mismatch: the user decides
                raise GpuclustError(f"{self.partial}: cannot be continued by this command ({e}); rerun the command "
                                    "that made it, or delete it to start again") from None
        self._create()

    def _create(self):
        p, cfg = self.cfg.p, self.cfg
        self.file = UnfailingFile(self.partial, "w+b")  # a full disk: one OSError, not a crashed HDF5
        self.h5 = h5py.File(self.file, "w", track_order=True)
        g = self.h5.create_group(self.group)
        g.attrs["T_seg (s)"] = p.n_frames * p.hop / p.fs
        g.attrs["NFFT"] = p.nfft
        g.attrs["gpuclust_params"] = json.dumps(_params(cfg), sort_keys=True)
        g.attrs["gpuclust_detection"] = json.dumps(_detection(cfg), sort_keys=True)
        g.attrs["units"] = cfg.unit_name
        shape = (len(p.freqs) + 1, p.n_frames + 1)
        d = g.create_dataset("Spectrogram", (0, *shape), np.float32, maxshape=(None, *shape), chunks=(20, *shape))
        d.attrs.update(AmplUnits=f"({cfg.unit_name})^2/Hz" if cfg.unit_name != "counts" else "counts^2/Hz",
                       FreqUnits="Hz", TimeUnits="s", WaveformUnits=cfg.unit_name)
        g.create_dataset("Trace", (0, p.trace_len), np.float32, maxshape=(None, p.trace_len),
                         chunks=(256, p.trace_len))
        g.create_dataset("Catalogue", (0,), h5py.string_dtype("utf-8"), maxshape=(None,), chunks=(1024,))
        m = self.h5.create_dataset(MANIFEST, (0,), h5py.string_dtype("utf-8"), maxshape=(None,), chunks=(1024,))
        m.attrs["job"] = self.identity
        self.h5.flush()
        self.g, self.manifest = g, m

    def _reopen(self):
        self.file = UnfailingFile(self.partial, "r+b")
        try:
            h5 = h5py.File(self.file, "r+")
        except BaseException:
            self.file.close()
            raise
        try:
            m = h5[MANIFEST]
            if m.attrs["job"] != self.identity:
                raise ValueError("it was made by another command (other options or other units)")
            entries = list(m.asstr()[:])
            while entries and not entries[-1]:  # interrupted between growing the manifest and writing its entry
                entries.pop()
            m.resize(len(entries), axis=0)
            self.done = [json.loads(e) for e in entries]
            rows = sum(e["rows"] for e in self.done)
            g = h5[self.group]
            for name in ("Spectrogram", "Trace", "Catalogue"):
                g[name].resize(rows, axis=0)  # drops rows written after the last manifest entry
        except BaseException:
            h5.close()
            self.file.close()
            raise
        self.h5, self.g, self.manifest = h5, g, m

    @property
    def n_rows(self) -> int:
        return self.g["Spectrogram"].shape[0]

    def write(self, r: UnitResult) -> None:
        m, n = self.n_rows, len(r)
        if n:
            for i, row in enumerate(r.catalogue):
                row["Index"] = m + i
            p = self.cfg.p
            for name, data in (("Spectrogram", embed_axes(r.spec, p.freqs, p.times)), ("Trace", r.traces),
                               ("Catalogue", np.array([json.dumps(c) for c in r.catalogue], dtype=object))):
                d = self.g[name]
                d.resize(m + n, axis=0)
                d[m:] = data
        entry = {"key": r.key, "rows": n, "skipped": r.skipped}
        k = self.manifest.shape[0]
        self.manifest.resize(k + 1, axis=0)
        self.manifest[k] = json.dumps(entry)
        self.h5.flush()
        self.file.check()  # a failed write stops the job here; --resume continues from the last manifest entry
        self.done.append(entry)

    def close(self) -> None:
        self.h5.close()
        self.file.close()

    def finish(self) -> None:
        """Catalogue CSV, then the rename: the final name appears complete or not at all."""
        self.close()
        self.file.check()
        with h5py.File(self.partial, "r") as h5, atomic_path(self.path + ".csv") as tmp, \
                open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CATALOGUE_FIELDS + ["location", "id"], extrasaction="ignore")
            w.writeheader()
            cat = h5[self.group]["Catalogue"]
            for lo in range(0, cat.shape[0], 4096):
                w.writerows(json.loads(s) for s in cat.asstr()[lo:lo + 4096])
        os.chmod(self.partial, 0o666 & ~_umask())
        os.replace(self.partial, self.path)


def skipped_line(key: str, reason: str) -> str:
    """One skipped unit (or file) in the closing summary; most reasons name their unit already."""
    return f"skipped {reason}" if reason.startswith(f"{key}:") else f"skipped {key}: {reason}"


def write_skipped(path: str, skipped) -> None:
    with atomic_path(path + ".skipped.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit", "reason"])
        w.writerows(skipped)


def run_job(units, output: str, cfg: UnitConfig, executor=None, workers: int = 1, strict: bool = False,
            progress=None, window: int | None = None) -> Summary:
    """Process `units` into `output` (RIS layout); returns what happened.

    executor: anything with submit(fn, *args) -> future with .result() (a concurrent.futures pool, a
    distributed.Client), or None to process in this process. progress(units, rows) is called after
    every unit written. A unit skipped with strict=True raises GpuclustError (the partial file stays, so
    the same command resumes after the bad input is fixed; removing it makes another job).
    """
    t0 = time.perf_counter()
    output = os.fspath(output)
    writer = StreamWriter(output, cfg, job_identity(cfg, units))
    s = Summary(units=len(units), output=output)
    done = len(writer.done)  # the identity holds the unit list, so these are the first `done` units
    s.done_before = done
    for e in writer.done:
        if e["skipped"]:
            s.skipped.append((e["key"], e["skipped"]))
    if progress:
        progress(done, writer.n_rows)
    todo = units[done:]
    try:
        for r in _results(todo, cfg, executor, window or 2 * max(workers, 1)):
            if r.skipped and strict:
                raise GpuclustError(f"{r.skipped} (--strict: stopped here; rerun the same command to resume)")
            writer.write(r)
            if r.skipped:
                s.skipped.append((r.key, r.skipped))
            s.notes += r.notes
            s.dropped_at_gaps += r.dropped_at_gaps
            if progress:
                progress(1, len(r))
    except BaseException:
        writer.close()  # the partial file keeps every finished unit: the same command resumes from there
        raise
    s.rows = writer.n_rows
    if s.rows == 0:
        writer.close()
        os.remove(writer.partial)
        if len(s.skipped) == len(units):  # nothing was read at all: the thresholds are not the problem
            raise GpuclustError(f"none of the {len(units)} unit(s) could be used; the first: {s.skipped[0][1]}")
        raise GpuclustError(f"no events detected in {len(units)} unit(s) with STA/LTA on={cfg.d.on}, off={cfg.d.off}"
                            + (f" ({len(s.skipped)} skipped: {s.skipped[0][1]})" if s.skipped else "")
                            + "; try lower --on/--off thresholds")
    writer.finish()
    write_skipped(output, s.skipped)
    s.seconds = time.perf_counter() - t0
    return s


def _results(units, cfg: UnitConfig, executor, window: int):
    """UnitResults in the order of `units`, with at most `window` units submitted and not yet yielded."""
    if executor is None:
        for u in units:
            yield process_unit(u, cfg)
        return
    pending, nxt = [], 0
    try:
        while nxt < len(units) or pending:
            while nxt < len(units) and len(pending) < window:
                pending.append(executor.submit(process_unit, units[nxt], cfg))
                nxt += 1
            yield pending.pop(0).result()
    finally:
        for f in pending:
            f.cancel()




def process_pool(workers: int):
    """Worker processes started by a fork server that has ObsPy and SciPy loaded already (a worker forked
    from the job's own process would inherit its open HDF5 file and the file's lock)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["gpuclust.archive.unit", "obspy.signal.filter", "obspy.signal.trigger",
                                "obspy.io.mseed.core", "scipy.signal"])
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_interrupt)


def _ignore_interrupt():
    """Workers share the terminal's process group: Ctrl-C is the job's to handle (one line), not N tracebacks."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def completed(output: str, identity: dict, cfg: UnitConfig) -> Summary | None:
    """The summary of a finished OUTPUT of this very job, or None."""
    if not os.path.exists(output):
        return None
    want = json.dumps({**identity, "detection": _detection(cfg)}, sort_keys=True)
    try:
        with h5py.File(output, "r") as h5:
            m = h5[MANIFEST]
            if m.attrs["job"] != want:
                return None
            done = [json.loads(x) for x in m.asstr()[:]]
    except (OSError, KeyError):
        return None
    if len(done) != identity["units"]:
        return None
    return Summary(units=len(done), done_before=len(done), rows=sum(e["rows"] for e in done), output=output,
                   skipped=[(e["key"], e["skipped"]) for e in done if e["skipped"]])


def min_margin(lta_s: float) -> float:
    """The least --margin covering its own taper (a fifth of it, at most 60 s) and three LTA windows."""
    return 3.75 * lta_s if 3.75 * lta_s < 300 else 3 * lta_s + 60


def run_archive(inputs, output, p, d, start=None, end=None, stations=None, channels=None, workers: int = 1,
                client=None, resume: bool = False, strict: bool = False, inventory=None, motion: str = "vel",
                margin_s: float = 300.0, units: str = "counts", echo=print, executor=None) -> Summary:
    """`gpuclust spectrograms`: find the units, then process them on a pool, on Dask (client), or here.

    executor: a pool made by the caller (process_pool) with `workers` workers, left open at the end;
    otherwise one is made for workers > 1 and shut down at the end.
    """
    from tqdm import tqdm

    from .sources import find_units

    output = os.fspath(output)
    found = find_units(inputs, start, end, stations, channels)
    cfg = UnitConfig(p=p, d=d, margin_s=margin_s, taper_s=min(60.0, margin_s / 5), inventory=inventory,
                     output=motion, units=units)
    if any(u.day for u in found) and margin_s < cfg.warmup_s:
        # a trigger counts only after the warm-up from the start of the data read: the margin must cover it
        raise GpuclustError(f"--margin {margin_s:g} s is shorter than the taper and the LTA's warm-up "
                            f"({cfg.taper_s:g} s + 3 x --lta {d.lta_s:g} s = {cfg.warmup_s:g} s): the first "
                            f"{cfg.warmup_s - margin_s:g} s of every day would go undetected; give --margin "
                            f"{int(np.ceil(min_margin(d.lta_s)))} or more")
    identity = job_identity(cfg, found)
    if resume:
        done = completed(output, identity, cfg)
        if done is not None:
            echo(f"{output}: already complete ({done.units} units); nothing to do")
            return done
    if os.path.exists(output + ".partial"):
        echo(f"continuing the interrupted job in {output}.partial")
    own_pool = False
    if executor is not None:
        n_workers = workers
    elif client is not None:
        executor, n_workers = client, max(1, len(client.scheduler_info().get("workers", {})))
    elif workers > 1:
        executor, n_workers, own_pool = process_pool(workers), workers, True
    else:
        n_workers = 1
    bar = tqdm(total=len(found), unit="unit", desc="spectrograms", disable=None)
    rows = [0]

    def progress(n_units, n_rows):
        rows[0] += n_rows
        bar.update(n_units)
        bar.set_postfix(detections=rows[0], refresh=False)

    try:
        return run_job(found, output, cfg, executor, n_workers, strict, progress)
    finally:
        bar.close()
        if own_pool:
            executor.shutdown(cancel_futures=True)
