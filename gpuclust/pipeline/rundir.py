"""A run directory: where every stage writes, and the record of which stages are complete and valid."""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time

from ..atomic import LOCK, DirLock, ensure_writable_dir, write_json
from ..errors import GpuclustError


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class RunDir:
    """stages.json records each finished stage with the fingerprint of what it depended on.

    A stage is skipped on --resume only if it finished, its inputs' fingerprint is
    unchanged and its outputs still exist. While a run works in the directory it holds
    a lock file there, so a second run into the same directory refuses instead of both
    writing; `close(failed=True)` removes a directory this run created when no stage
    finished in it, so a failed first attempt does not block the retry.
    """

    def __init__(self, path: str, resume: bool, fresh: bool = False):
        self.path = path
        self.record_path = os.path.join(path, "stages.json")
        if os.path.exists(path) and not os.path.isdir(path):
            raise GpuclustError(f"{path}: exists and is not a directory; choose another --out")
        # A directory holding only what a run writes before its first stage (a failed start) is reused.
        if os.path.isdir(path) and not resume and set(os.listdir(path)) - {LOCK, "config.json", "environment.json"}:
            raise GpuclustError(f"{path}: run directory exists and is not empty; "
                                "use --resume to continue it, or another --out")
        self.created = fresh or not os.path.isdir(path)  # fresh: made for this run (atomic.unique_dir)
        ensure_writable_dir(path, "--out")
        self.lock = DirLock(path)
        self.record = {}
        if resume and os.path.exists(self.record_path):
            with open(self.record_path) as fh:
                self.record = json.load(fh)

    def file(self, *parts) -> str:
        return os.path.join(self.path, *parts)

    def done(self, stage: str, fp: str, outputs) -> bool:
        r = self.record.get(stage)
        return bool(r and r["fingerprint"] == fp and all(os.path.exists(self.file(o)) for o in outputs))

    def finish(self, stage: str, fp: str, seconds: float, **info) -> None:
        """Record a finished stage: its seconds, and the process's peak memory so far (the high-water mark
        only grows, so a stage's own peak is its mark when the mark rose during it)."""
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        self.record[stage] = {"fingerprint": fp, "seconds": round(seconds, 2), "finished": time.strftime("%F %T"),
                              "peak_rss_mb": round(peak_mb, 1), **info}
        write_json(self.record_path, self.record)

    def seconds(self) -> dict:
        return {k: v["seconds"] for k, v in self.record.items()}

    def close(self, failed: bool = False) -> None:
        """Release the lock; after a failure, remove the directory if this run made it and finished nothing."""
        self.lock.release()
        if failed and self.created and not self.record:
            shutil.rmtree(self.path, ignore_errors=True)
