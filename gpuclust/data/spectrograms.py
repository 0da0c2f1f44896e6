"""Reading spectrogram files: the RIS layout users bring, and a plain (N, H, W) layout.

The RIS layout (../shared/RIS_FORMAT.md) keeps the axes inside every array:
column 0 holds the frequencies, the last row the times, so the image is
``X[:-1, 1:]``. Reads are contiguous slices: the file is chunked 20 rows at a
time, and one slice touches each chunk once where a row-by-row read touches it
once per row.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..errors import GpuclustError

RIS_DATASET = "Spectrogram"


MAX_SLICE_ROWS = 2048  # about 70 MB of 88 x 101 float32 images


@dataclass
class SpectrogramFile:
    """An open view of one spectrogram dataset; rows are addressed by their index in the file."""

    path: str
    dataset: str
    layout: str  # "ris" or "plain"
    n_rows: int
    shape: tuple[int, int]
    freqs: np.ndarray | None = None
    times: np.ndarray | None = None
    trace_dataset: str | None = None
    catalogue_dataset: str | None = None
    label_dataset: str | None = None
    class_names: list[str] = field(default_factory=list)
    _h5: h5py.File | None = field(default=None, repr=False, compare=False)

    # -- handles -----------------------------------------------------------
    @property
    def h5(self) -> h5py.File:
        if self._h5 is None or not self._h5.id.valid:
            self._h5 = open_h5(self.path)
        return self._h5

    def close(self) -> None:
        if self._h5 is not None and self._h5.id.valid:
            self._h5.close()
        self._h5 = None

    def __getstate__(self):  # picklable for Dask workers: each reopens the file itself
        state = self.__dict__.copy()
        state["_h5"] = None
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- images ------------------------------------------------------------
    def read_block(self, start: int, stop: int) -> np.ndarray:
        """Images of rows start..stop-1 as float32 (n, H, W), in one contiguous read.

        The crop is an HDF5 hyperslab, so the library copies each value once,
        straight into the array returned.
        """
        ds = self.h5[self.dataset]
        if self.layout == "ris":
            x = ds[start:stop, :-1, 1:]
        elif ds.ndim == 4:
            x = ds[start:stop, 0]
        else:
            x = ds[start:stop]
        return np.asarray(x, dtype=np.float32)

    def read_rows(self, rows) -> np.ndarray:
        """Images of the given rows (any order), read as few contiguous runs as possible."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (np.diff(rows) == 1).all():
            return self.read_block(int(rows[0]), int(rows[-1]) + 1)
        out = np.empty((rows.size, *self.shape), np.float32)
        if rows.size == 0:
            return out
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        # Runs of rows whose gaps are small are read as one slice: reading a few
        # unwanted rows is cheaper than another pass over the same chunk. A slice spans
        # at most MAX_SLICE_ROWS rows, so memory is bounded whatever the rows' density:
        # a 20 % sample spread over a 427,798-row file has no gap over 32 and was read
        # as one 15 GB slice (issue 19).
        gaps = np.diff(srt) > 32
        spans = np.diff((srt - srt[0]) // MAX_SLICE_ROWS) > 0
        breaks = np.flatnonzero(gaps | spans) + 1
        for run in np.split(np.arange(srt.size), breaks):
            lo, hi = srt[run[0]], srt[run[-1]] + 1
            block = self.read_block(lo, hi)
            out[order[run]] = block if hi - lo == run.size else block[srt[run] - lo]
        return out

    def iter_blocks(self, block_rows: int = 2000, start: int = 0, stop: int | None = None):
        """(first_row, images) for consecutive blocks of the file, in file order."""
        stop = self.n_rows if stop is None else stop
        for lo in range(start, stop, block_rows):
            hi = min(lo + block_rows, stop)
            yield lo, self.read_block(lo, hi)

    def row_health(self, block_rows: int = 2000) -> "RowHealth":
        """One pass over the file: which rows are finite, have any energy, have no negative value."""
        finite, energy, nonneg = (np.empty(self.n_rows, bool) for _ in range(3))
        for lo, x in self.iter_blocks(block_rows):
            hi = lo + len(x)
            flat = x.reshape(len(x), -1)
            finite[lo:hi] = np.isfinite(flat).all(axis=1)
            with np.errstate(invalid="ignore"):
                energy[lo:hi] = (np.abs(np.nan_to_num(flat)) > 0).any(axis=1)
                nonneg[lo:hi] = ~(flat < 0).any(axis=1)
        return RowHealth(finite, energy, nonneg)

    # -- what travels with the images -------------------------------------
    def traces(self, rows) -> np.ndarray | None:
        if self.trace_dataset is None:
            return None
        return _gather(self.h5[self.trace_dataset], rows).astype(np.float32)

    def labels(self, rows=None) -> np.ndarray | None:
        """Ground-truth class per row, when the file has one (the synthetic benchmark does)."""
        if self.label_dataset is None:
            return None
        ds = self.h5[self.label_dataset]
        return ds[:] if rows is None else _gather(ds, rows)

    def catalogue(self, rows=None) -> "Catalogue | None":
        """The catalogue entries of `rows` (all rows if None), each read as a dict (RIS: a JSON string a row)."""
        if self.catalogue_dataset is None:
            return None
        ds = self.h5[self.catalogue_dataset]
        return Catalogue(ds[:] if rows is None else _gather(ds, rows))


class Catalogue:
    """Catalogue entries kept as the file's JSON strings and parsed one at a time, when asked for.

    A sequence of dicts to its readers (len, index, iterate), at the size of its strings (about 200
    bytes an event) rather than of parsed dicts (about 1 KB), since a run keeps every event's entry
    from the cluster stage to the figures.
    """

    def __init__(self, raw):
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, i: int) -> dict:
        r = self._raw[i]
        s = r.decode() if isinstance(r, bytes) else str(r)
        try:
            return json.loads(s)
        except json.JSONDecodeError:
            return {"catalogue": s}

    def __iter__(self):
        return (self[i] for i in range(len(self)))


@dataclass
class RowHealth:
    """Per-row masks from one pass over a file."""

    finite: np.ndarray  # no NaN or inf
    energy: np.ndarray  # not all zero (a dead channel; float16 power that underflowed)
    nonnegative: np.ndarray  # no negative value (power spectra have none)

    @property
    def usable(self) -> np.ndarray:
        return self.finite & self.energy


def _gather(ds: h5py.Dataset, rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return ds[0:0]
    lo, hi = int(rows.min()), int(rows.max()) + 1
    if hi - lo <= 4 * rows.size + 1000:
        return ds[lo:hi][rows - lo]
    order = np.argsort(rows)
    got = ds[rows[order]]
    out = np.empty_like(got)
    out[order] = got
    return out


def open_h5(path, mode: str = "r") -> h5py.File:
    """h5py.File, with the errors of a damaged file (the commonest: a copy cut short) said in one line."""
    try:
        return h5py.File(path, mode)
    except OSError as e:
        text = str(e)
        if "truncated" in text:
            why = "the file is truncated (a copy or download that stopped early?)"
        elif "signature" in text or "file format" in text.lower():
            why = "not a readable HDF5 file"
        else:
            why = text.split("(")[-1].rstrip(")") if "(" in text else text
        raise GpuclustError(f"{path}: cannot open: {why}")


def _is_ris_group(obj) -> bool:
    if not isinstance(obj, h5py.Group) or RIS_DATASET not in obj:
        return False
    try:
        float(obj.name.strip("/"))
    except ValueError:
        return False
    return True


def open_spectrograms(
    path,
    group: str | None = None,
    dataset: str | None = None,
    freqs_dataset: str | None = None,
    times_dataset: str | None = None,
    labels_dataset: str | None = None,
) -> SpectrogramFile:
    """Open a RIS file (group chosen automatically when there is one) or, with `dataset`, a plain one.

    Every problem is a GpuclustError naming the file and what is wrong with it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise GpuclustError(f"{path}: no such file")
    if os.path.isdir(path):
        raise GpuclustError(f"{path}: is a directory, not an HDF5 file")
    if not h5py.is_hdf5(path):
        raise GpuclustError(f"{path}: not an HDF5 file")
    with open_h5(path) as h5:
        if dataset is not None:
            sf = _open_plain(path, h5, dataset, freqs_dataset, times_dataset, labels_dataset)
        else:
            sf = _open_ris(path, h5, group)
    if sf.n_rows == 0:
        raise GpuclustError(f"{path}: dataset {sf.dataset} is empty (0 rows)")
    return sf


def _open_ris(path, h5, group) -> SpectrogramFile:
    groups = sorted(g.name.strip("/") for g in h5.values() if _is_ris_group(g))
    if group is None:
        if not groups:
            raise GpuclustError(
                f"{path}: no RIS group (like /4.0 holding a Spectrogram dataset) found; "
                "for another layout name the dataset with --dataset"
            )
        if len(groups) > 1:
            raise GpuclustError(f"{path}: several segment-length groups {groups}; choose one with --group")
        group = groups[0]
    group = group.strip("/")
    if group not in h5 or not isinstance(h5[group], h5py.Group):
        raise GpuclustError(f"{path}: no group /{group} (found: {groups or 'none'})")
    g = h5[group]
    if RIS_DATASET not in g:
        raise GpuclustError(f"{path}: group /{group} has no {RIS_DATASET} dataset")
    ds = g[RIS_DATASET]
    if not isinstance(ds, h5py.Dataset):
        raise GpuclustError(f"{path}: /{group}/{RIS_DATASET} is a group, not a dataset")
    _check_real(path, f"/{group}/{RIS_DATASET}", ds)
    if ds.ndim != 3 or ds.shape[1] < 3 or ds.shape[2] < 3:
        raise GpuclustError(
            f"{path}: /{group}/{RIS_DATASET} has shape {ds.shape}; expected (M, H+1, W+1) "
            "with the frequency vector in column 0 and the time vector in the last row"
        )
    m, h1, w1 = ds.shape
    freqs = times = None
    if m:
        first = ds[0]
        freqs, times = first[:-1, 0].astype(np.float64), first[-1, 1:].astype(np.float64)
        for what, v in (("frequency vector (column 0)", freqs), ("time vector (last row)", times)):
            if not np.isfinite(v).all():  # the figures' axes, predict's check of the image: found only after training
                raise GpuclustError(f"{path}: the {what} of /{group}/{RIS_DATASET} holds NaN or inf")
    for name in ("Trace", "Catalogue", "Label"):  # read row by row with the spectrograms: the same rows
        part = g.get(name)
        rows = len(part) if isinstance(part, h5py.Dataset) and part.shape else "no"  # a group, or a scalar
        if part is not None and rows != m:
            raise GpuclustError(f"{path}: /{group}/{name} has {rows} rows, /{group}/{RIS_DATASET} {m}; "
                                f"they must match row for row")
    names = []
    if "Label" in g:
        names = list(json.loads(g["Label"].attrs.get("class_names", "[]")))
    return SpectrogramFile(
        path=path,
        dataset=f"/{group}/{RIS_DATASET}",
        layout="ris",
        n_rows=m,
        shape=(h1 - 1, w1 - 1),
        freqs=freqs,
        times=times,
        trace_dataset=f"/{group}/Trace" if "Trace" in g else None,
        catalogue_dataset=f"/{group}/Catalogue" if "Catalogue" in g else None,
        label_dataset=f"/{group}/Label" if "Label" in g else None,
        class_names=names,
    )


def _check_real(path, name: str, ds) -> None:
    """Power spectra are real numbers: a complex dataset was read as its real part with a NumPy warning."""
    if ds.dtype.kind not in "fiub":
        raise GpuclustError(f"{path}: {name} holds {ds.dtype} values; spectrograms must be real numbers "
                            "(for a complex STFT, write its power, |X|^2)")


def _open_plain(path, h5, dataset, freqs_dataset, times_dataset, labels_dataset) -> SpectrogramFile:
    def need(name, what):
        if name not in h5 or not isinstance(h5[name], h5py.Dataset):
            raise GpuclustError(f"{path}: no {what} dataset {name!r}")
        return h5[name]

    ds = need(dataset, "spectrogram")
    _check_real(path, dataset, ds)
    shape = ds.shape
    if not (len(shape) == 3 or (len(shape) == 4 and shape[1] == 1)) or min(shape[-2:]) < 2:
        raise GpuclustError(f"{path}: dataset {dataset!r} has shape {shape}; expected (N, H, W) or (N, 1, H, W)")
    n, hw = shape[0], tuple(shape[-2:])

    def vector(name, length, what):
        if name is None:
            return None
        v = np.asarray(need(name, what)[:], dtype=np.float64).ravel()
        if v.size != length:
            raise GpuclustError(f"{path}: {what} dataset {name!r} has {v.size} values, the images have {length}")
        return v

    labels = None
    if labels_dataset is not None:
        if need(labels_dataset, "labels").shape[:1] != (n,):
            raise GpuclustError(f"{path}: labels dataset {labels_dataset!r} does not have {n} rows")
        labels = "/" + labels_dataset.strip("/")
    return SpectrogramFile(
        path=path,
        dataset="/" + dataset.strip("/"),
        layout="plain",
        n_rows=n,
        shape=hw,
        freqs=vector(freqs_dataset, hw[0], "frequency"),
        times=vector(times_dataset, hw[1], "time"),
        label_dataset=labels,
    )
