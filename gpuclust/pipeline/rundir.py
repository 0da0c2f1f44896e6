"""A run directory: where every stage writes, and the record of which stages are complete and valid."""
from __future__ import annotations

import hashlib
import json
import os
import time

from ..atomic import write_json
from ..errors import GpuclustError


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class RunDir:
    """stages.json records each finished stage with the fingerprint of what it depended on.

    A stage is skipped on --resume only if it finished, its inputs' fingerprint is
    unchanged and its outputs still exist.
    """

    def __init__(self, path: str, resume: bool):
        self.path = path
        self.record_path = os.path.join(path, "stages.json")
        if os.path.isdir(path) and os.listdir(path) and not resume:
            raise GpuclustError(f"{path}: run directory exists and is not empty; "
                                "use --resume to continue it, or another --out")
        os.makedirs(path, exist_ok=True)
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
        self.record[stage] = {"fingerprint": fp, "seconds": round(seconds, 2), "finished": time.strftime("%F %T"),
                              **info}
        write_json(self.record_path, self.record)

    def seconds(self) -> dict:
        return {k: v["seconds"] for k, v in self.record.items()}
