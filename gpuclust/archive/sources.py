"""What to process: SDS archive roots, directories, globs and plain files, as a sorted list of units.

An SDS archive (SeisComP's layout: YEAR/NET/STA/CHAN.TYPE/NET.STA.LOC.CHAN.TYPE.YEAR.DOY) gives one unit
per station-channel-day, which knows its neighbouring days' files (for the margins). Any other file
is a unit of its own. Units are sorted by their key, so the output's row order does not depend on the
order of the arguments, the file system, or the number of workers.
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import os
import re
from dataclasses import dataclass

from ..errors import GpuclustError

SDS_NAME = re.compile(r"^(?P<net>[^.]*)\.(?P<sta>[^.]*)\.(?P<loc>[^.]*)\.(?P<cha>[^.]*)\.(?P<type>[A-Z])"
                      r"\.(?P<year>\d{4})\.(?P<doy>\d{3})$")
SKIP_NAMES = {"inventory.xml", "catalogue.csv"}


@dataclass(frozen=True)
class Unit:
    key: str  # NET.STA.LOC.CHA.YEAR.DOY for a station-channel-day, the path for a plain file
    files: tuple = ()
    before: tuple = ()  # the previous day's files (its last margin_s seconds are read)
    after: tuple = ()  # the next day's files
    day: str | None = None  # ISO date of a station-channel-day

    @property
    def station(self) -> str | None:
        return self.key.split(".")[1] if self.day else None


def _sds_parts(path: str):
    m = SDS_NAME.match(os.path.basename(path))
    if not m:
        return None
    g = m.groupdict()
    try:
        day = dt.date(int(g["year"]), 1, 1) + dt.timedelta(days=int(g["doy"]) - 1)
    except ValueError:
        return None
    return (g["net"], g["sta"], g["loc"], g["cha"]), day


# what gpuclust itself writes into a folder (a job's own OUT.h5.partial among them): never an input
OWN_OUTPUTS = (".h5", ".csv", ".xml", ".partial", ".tmp")


def _files(inputs) -> list[str]:
    out = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            for dirpath, dirs, names in os.walk(item):
                dirs.sort()
                out += [os.path.join(dirpath, n) for n in sorted(names)
                        if not n.startswith(".") and n not in SKIP_NAMES and not n.endswith(OWN_OUTPUTS)]
        elif os.path.exists(item):
            out.append(item)
        elif glob.has_magic(item):
            hits = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not hits:
                raise GpuclustError(f"{item}: matches no file")
            out += hits
        else:
            raise GpuclustError(f"{item}: no such file or directory")
    return list(dict.fromkeys(os.path.normpath(p) for p in out))


def _date(text: str | None, name: str):
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise GpuclustError(f"{name} {text!r}: give a date as YYYY-MM-DD")


def _matches(value: str, patterns) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)


def find_units(inputs, start: str | None = None, end: str | None = None, stations=None, channels=None) -> list[Unit]:
    """The units named by `inputs`, selected by day (start inclusive, end exclusive), station and channel.

    stations / channels are lists of wildcard patterns (e.g. ["DR0?"], ["HH?"]); for plain files they
    select only at processing time (by channel) since a file's contents are not known here.
    """
    d0, d1 = _date(start, "--start"), _date(end, "--end")
    if d0 and d1 and d1 <= d0:
        raise GpuclustError(f"--end {end} must be after --start {start}")
    days: dict = {}
    plain = []
    for path in _files(inputs):
        parts = _sds_parts(path)
        if parts is None:
            plain.append(path)
            continue
        days.setdefault(parts, []).append(path)
    units = []
    for ((net, sta, loc, cha), day), files in days.items():
        if (d0 and day < d0) or (d1 and day >= d1):
            continue
        if not _matches(sta, stations) or not _matches(cha, channels):
            continue
        before = days.get(((net, sta, loc, cha), day - dt.timedelta(days=1)), [])
        after = days.get(((net, sta, loc, cha), day + dt.timedelta(days=1)), [])
        units.append(Unit(f"{net}.{sta}.{loc}.{cha}.{day.year}.{day.timetuple().tm_yday:03d}", tuple(sorted(files)),
                          tuple(sorted(before)), tuple(sorted(after)), day.isoformat()))
    units += [Unit(p, (p,)) for p in plain]
    units.sort(key=lambda u: u.key)
    if not units:
        given = [f"{name} {value if isinstance(value, str) else ','.join(value)}" for name, value in
                 (("--start", start), ("--end", end), ("--stations", stations), ("--channels", channels)) if value]
        raise GpuclustError("no waveform file in the inputs matches the selection"
                            + (f" ({', '.join(given)})" if given else ""))
    return units
