"""Writing the RIS layout, atomically: all writes go to a temporary copy renamed over the target.

An interrupted write (Ctrl-C, a killed process, a full disk) therefore leaves
the original file, and its .csv catalogue, exactly as they were. A full disk is
said in one line naming the file: each block is checked against the free space
first, and HDF5 writes through an UnfailingFile (gpuclust.atomic), so that a write
failing anyway (a quota, another process filling the disk) is one error, not
HDF5 error stacks and a crash at exit.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile

import h5py
import numpy as np

from ..atomic import UnfailingFile, _umask, check_free_space, disk_full, full_disk_error
from ..errors import GpuclustError

CATALOGUE_FIELDS = [
    "Index", "network", "station", "channel", "dt_on", "dt_off", "dt_peak", "peak", "unit", "fs",
    "delta", "npts", "STA", "LTA", "on", "off", "spec_start", "spec_stop",
]


def embed_axes(spec: np.ndarray, freqs: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(n, F, T) images -> (n, F+1, T+1) arrays with the axes stored inside, as the RIS layout has them."""
    n, f, t = spec.shape
    out = np.empty((n, f + 1, t + 1), np.float32)
    out[:, :-1, 1:] = spec
    out[:, :-1, 0] = freqs
    out[:, -1, 1:] = times
    out[:, -1, 0] = np.nan
    return out


class RISWriter:
    """Create or append to a RIS file. Use as a context manager; the file appears only on success."""

    def __init__(self, path, freqs, times, t_seg: float = 4.0, nfft: int = 256, trace_len: int = 199,
                 append: bool = False, class_names: list[str] | None = None, params: dict | None = None,
                 amplitude_units: str = "(m/s)^2/Hz"):
        self.path = os.fspath(path)
        self.freqs, self.times = np.asarray(freqs), np.asarray(times)
        self.group = f"{t_seg:.1f}"
        self.class_names = class_names
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=os.path.basename(self.path) + ".", suffix=".tmp", dir=directory)
        os.close(fd)
        self.tmp_csv = self.tmp + ".csv"
        exists = os.path.exists(self.path)
        if append and exists:
            shutil.copyfile(self.path, self.tmp)
            if os.path.exists(self.path + ".csv"):
                shutil.copyfile(self.path + ".csv", self.tmp_csv)
        self.file = UnfailingFile(self.tmp, "r+b" if append and exists else "w+b")
        self.h5 = h5py.File(self.file, "a" if append and exists else "w")
        g = self.h5.require_group(self.group)
        g.attrs["T_seg (s)"] = t_seg
        g.attrs["NFFT"] = nfft
        shape = (len(self.freqs) + 1, len(self.times) + 1)
        if "Spectrogram" in g:
            if g["Spectrogram"].shape[1:] != shape:
                self.abort()
                raise GpuclustError(f"{self.path}: cannot append {shape} spectrograms to {g['Spectrogram'].shape[1:]}")
        else:
            d = g.create_dataset("Spectrogram", (0, *shape), np.float32, maxshape=(None, *shape), chunks=(20, *shape))
            d.attrs.update(AmplUnits=amplitude_units, FreqUnits="Hz", TimeUnits="s")
            g.create_dataset("Trace", (0, trace_len), np.float32, maxshape=(None, trace_len), chunks=(256, trace_len))
            g.create_dataset("Catalogue", (0,), h5py.string_dtype("utf-8"), maxshape=(None,), chunks=(1024,))
            if class_names is not None:
                lab = g.create_dataset("Label", (0,), np.int16, maxshape=(None,), chunks=(4096,))
                lab.attrs["class_names"] = json.dumps(list(class_names))
        if params is not None and "gpuclust_params" not in g.attrs:
            g.attrs["gpuclust_params"] = json.dumps(params, sort_keys=True)
        self.g = g
        self.n_written = 0

    @property
    def n_rows(self) -> int:
        return self.g["Spectrogram"].shape[0]

    def write(self, spec: np.ndarray, traces: np.ndarray, catalogue: list[dict], labels=None) -> None:
        n = len(spec)
        if not (len(traces) == len(catalogue) == n):
            raise ValueError("spectrograms, traces and catalogue rows must be as many")
        check_free_space(self.path, 4 * n * (len(self.freqs) + 1) * (len(self.times) + 1) + traces.nbytes
                         + 1024 * n + 4 * 2**20)  # the block, its catalogue (JSON and CSV), HDF5's metadata
        m = self.n_rows
        start_index = m
        for i, row in enumerate(catalogue):
            row["Index"] = start_index + i
        for name, data in (("Spectrogram", embed_axes(spec, self.freqs, self.times)), ("Trace", traces),
                           ("Catalogue", np.array([json.dumps(r) for r in catalogue], dtype=object))):
            d = self.g[name]
            d.resize(m + n, axis=0)
            d[m:] = data
        if "Label" in self.g:
            if labels is None:
                raise ValueError("this file has ground-truth labels: pass labels")
            self.g["Label"].resize(m + n, axis=0)
            self.g["Label"][m:] = labels
        new_file = not os.path.exists(self.tmp_csv)
        with open(self.tmp_csv, "a", newline="") as fh:
            extra = [f for f in ("location", "id") if any(f in r for r in catalogue)]  # waveform-made rows
            w = csv.DictWriter(fh, fieldnames=CATALOGUE_FIELDS + extra + ["class"] * ("Label" in self.g),
                               extrasaction="ignore")
            if new_file:
                w.writeheader()
            w.writerows(catalogue)
        self.h5.flush()
        self.file.check()  # a failed write: the writer gives up here (HDF5 never saw it, see UnfailingFile)
        self.n_written += n

    def commit(self) -> None:
        self.h5.flush()
        self.h5.close()
        self.file.close()
        self.file.check()
        mode = 0o666 & ~_umask()  # mkstemp made the copy private; the file gets the usual mode
        if os.path.exists(self.tmp_csv):
            os.chmod(self.tmp_csv, mode)
            os.replace(self.tmp_csv, self.path + ".csv")
        os.chmod(self.tmp, mode)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Remove the temporary copy; quietly, whatever state a failed write left HDF5 in."""
        import contextlib

        try:
            with contextlib.suppress(Exception):
                self.h5.close()
            self.file.close()
        finally:
            for p in (self.tmp, self.tmp_csv):
                if os.path.exists(p):
                    os.remove(p)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        if exc_type is None:
            try:
                self.commit()
                return
            except BaseException as e:
                exc = e
        self.abort()
        if disk_full(exc):
            raise full_disk_error(self.path) from exc
        if exc is not None and exc_type is None:
            raise exc


def write_subset(src, dst, rows, block_rows: int = 2048) -> int:
    """Copy the given rows of a RIS file (spectrograms, traces, catalogue, labels) to a new RIS file, in order.

    Used to hold data out (a class, a time span) from a run; returns the number of rows written.
    """
    from .spectrograms import open_spectrograms

    rows = np.sort(np.asarray(rows, dtype=np.int64))
    with open_spectrograms(src) as sf:
        if sf.layout != "ris":
            raise GpuclustError(f"{src}: only RIS files can be subset")
        g = sf.h5[sf.dataset.rsplit("/", 1)[0]]
        trace_len = g["Trace"].shape[1] if "Trace" in g else 199
        with RISWriter(dst, sf.freqs, sf.times, t_seg=float(g.attrs.get("T_seg (s)", 4.0)),
                       nfft=int(g.attrs.get("NFFT", 256)), trace_len=trace_len,
                       class_names=sf.class_names if sf.label_dataset else None) as w:
            for lo in range(0, rows.size, block_rows):
                part = rows[lo:lo + block_rows]
                cat = [{k: v for k, v in c.items() if k != "Index"} for c in (sf.catalogue(part) or
                                                                            [{} for _ in part])]
                traces = sf.traces(part)
                if traces is None:
                    traces = np.zeros((len(part), trace_len), np.float32)
                w.write(sf.read_rows(part), traces, cat, sf.labels(part) if sf.label_dataset else None)
    return int(rows.size)
