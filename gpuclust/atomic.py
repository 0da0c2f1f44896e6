"""Never leave half-written output under a final name: write to a temporary name, then rename.

And check an output location before the work that fills it, and let one writer at a time use it.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile

from .errors import GpuclustError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on failure removed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as e:
        raise GpuclustError(f"{path}: cannot be written ({e.strerror or e})")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise GpuclustError(f"{path}: could not be written ({e.strerror}); nothing was left under that name")
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, obj) -> None:
    """Strict JSON: NaN and infinities (undefined metrics) are written as null."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(_finite(obj), fh, indent=2, default=_jsonable, allow_nan=False)


def _finite(o):
    import math

    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write(text)


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# -- output locations: checked before the work, one writer at a time ---------------------------

LOCK = ".gpuclust.lock"


class DirLock:
    """An exclusive lock file in a directory, holding the owner's PID; a lock whose process is gone is taken over."""

    def __init__(self, directory: str):
        self.path = os.path.join(directory, LOCK)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if _alive(_owner(self.path)):
                    raise GpuclustError(f"{directory}: another gpuclust (process {_owner(self.path)}) is writing "
                                        "there now; wait for it, or choose another output")
                os.remove(self.path)  # left by a process that died
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self.held = True
            return
        raise GpuclustError(f"{directory}: cannot take the lock {self.path}")

    def release(self) -> None:
        if getattr(self, "held", False):
            self.held = False
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _owner(path) -> int:
    try:
        with open(path) as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_writable_dir(path: str, option: str = "output") -> bool:
    """Create `path` if needed and check that files can be written there: before any work, not after it.

    Returns True when the directory was created here (see `output_dir`)."""
    created = not os.path.isdir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise GpuclustError(f"{path}: cannot create the {option} directory ({e.strerror or e})")
    if not os.access(path, os.W_OK | os.X_OK):
        raise GpuclustError(f"{path}: the {option} directory is not writable")
    probe = os.path.join(path, f".gpuclust-write-test-{os.getpid()}")
    try:
        with open(probe, "w") as fh:
            fh.write("x")
    except OSError as e:
        raise GpuclustError(f"{path}: cannot write in the {option} directory ({e.strerror or e})")
    finally:
        if os.path.exists(probe):
            os.remove(probe)
    return created


@contextlib.contextmanager
def output_dir(path: str, option: str = "--out"):
    """A command's output directory: checked to take files (created if needed) and locked while in use.

    If the command fails (on its input, say), a directory this call created is removed again when
    nothing was written in it: a failed command leaves nothing behind.
    """
    created = ensure_writable_dir(path, option)
    try:
        with DirLock(path):
            yield path
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(path)  # only if empty
        raise


def ensure_writable_file(path: str, option: str = "output") -> None:
    """The directory of an output file exists (or can be made) and takes files."""
    ensure_writable_dir(os.path.dirname(os.path.abspath(path)) or ".", option)
    if os.path.isdir(path):
        raise GpuclustError(f"{path}: is a directory; {option} must name a file")
