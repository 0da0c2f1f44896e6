"""Times as the catalogues and driver files give them (ISO 8601), all read the same way: as UTC.

A time with an offset (`Z`, `+01:00`) is moved to UTC; one without is taken to be UTC already
(RIS catalogues, and the synthetic ones, are). Every time is then a naive datetime in UTC, so
times from different files compare, sort and share an axis whatever offsets they carried.
"""
from __future__ import annotations

import datetime as dt


def utc(text: str) -> dt.datetime:
    """The naive UTC datetime of an ISO 8601 time; ValueError if it is not one."""
    t = dt.datetime.fromisoformat(str(text).strip())
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t
