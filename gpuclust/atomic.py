"""Never leave half-written output under a final name: write to a temporary name, then rename.

And check an output location before the work that fills it, and let one writer at a time use it.
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
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
        if disk_full(e):
            raise full_disk_error(path) from e
        if isinstance(e, OSError) and e.errno in (errno.EROFS, errno.EACCES):
            raise GpuclustError(f"{path}: could not be written ({e.strerror}); nothing was left under that name")
        raise


# -- a full disk, however the library that met it reports it ----------------------------------

_FULL = (errno.ENOSPC, errno.EDQUOT)
# HDF5 reports the errno inside its message text; torch.save raises a RuntimeError
# ("[enforce fail at inline_container.cc ...] unexpected pos") whose context holds the OSError.
_FULL_TEXT = ("errno = 28", "errno = 122", "No space left on device", "Disk quota exceeded")


def disk_full(e: BaseException | None) -> bool:
    """Whether e, or an exception it was raised from or while handling, is a full disk (or quota)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _FULL:
            return True
        if isinstance(e, (OSError, RuntimeError)) and any(t in str(e) for t in _FULL_TEXT):
            return True
        e = e.__cause__ or e.__context__
    return False


def full_disk_error(path) -> GpuclustError:
    path = os.fspath(path)
    free = ""
    with contextlib.suppress(OSError):
        free = f", {shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free / 2**20:.1f} MB free there now"
    return GpuclustError(f"{path}: the disk is full (no space left on the device{free}); nothing was left under "
                         "that name: free some space or write elsewhere")


def check_free_space(path, needed_bytes: int) -> None:
    """Refuse before writing `needed_bytes` more to `path` where the disk cannot take them.

    For writers (HDF5) that a full disk leaves in a state where even closing the file fails.
    """
    try:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(os.fspath(path)))).free
    except OSError:
        return
    if free < needed_bytes:
        raise full_disk_error(path)


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


def unique_dir(base: str) -> str:
    """Create `base`, or else `base-2`, `base-3`, ...: the first that did not exist; returns its path.

    For default output directories named after the time: os.mkdir either creates or fails, so two
    commands started in the same second get one directory each instead of writing into one.
    """
    os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)
    for i in range(1, 10_000):
        path = base if i == 1 else f"{base}-{i}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise GpuclustError(f"{path}: cannot create the output directory ({e.strerror or e})")
    raise GpuclustError(f"{base}: 10,000 directories of that name exist already; give an output directory")


@contextlib.contextmanager
def output_dir(path: str, option: str = "--out", fresh: bool = False):
    """A command's output directory: checked to take files (created if needed) and locked while in use.

    If the command fails (on its input, say), a directory this call created (or that was made for
    it: fresh, see unique_dir) is removed again when nothing was written in it: a failed command
    leaves nothing behind.
    """
    created = ensure_writable_dir(path, option) or fresh
    try:
        with DirLock(path):
            yield path
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(path)  # only if empty
        raise


def ensure_writable_file(path: str, option: str = "output", inputs=()) -> None:
    """The directory of an output file exists (or can be made) and takes files; the file is not one of the
    command's `inputs` (the atomic write would replace it) and, where it exists, is a regular file (a FIFO or a
    device such as /dev/null would be replaced by one)."""
    if os.path.isdir(path):
        raise GpuclustError(f"{path}: is a directory; {option} must name a file")
    if os.fspath(path).endswith(os.sep):  # without this, the write failed at the end on its temporary file
        raise GpuclustError(f"{path}: ends in {os.sep}, a directory's name; {option} must name a file")
    if os.path.exists(path) and not os.path.isfile(path):
        raise GpuclustError(f"{path}: exists and is not a regular file (a device, FIFO or socket); "
                            f"{option} must name a file")
    for given in inputs:
        if os.path.isfile(given) and os.path.exists(path) and os.path.samefile(given, path):
            raise GpuclustError(f"{path}: is also an input ({given}); {option} must name another file, "
                                "or the input would be replaced")
    ensure_writable_dir(os.path.dirname(os.path.abspath(path)) or ".", option)


# -- HDF5 on a full disk -----------------------------------------------------------------------

class UnfailingFile(io.RawIOBase):
    """A file whose writes never raise: the first OSError is kept (`failed`), later writes are dropped.

    For HDF5, which does not survive a failed write: every later call fails too, closing included,
    its handles' finalisers print error stacks, and the interpreter crashes at exit (measured: a
    synth onto a full 3 MB tmpfs ended in a segmentation fault). Given this file instead of a path,
    HDF5 never sees the failure and closes cleanly; the writer calls `check()` after each block and
    gives up, removing its temporary file, with the OSError that says the disk is full.
    """

    def __init__(self, path, mode: str):
        super().__init__()
        self.name = os.fspath(path)
        self._f = open(self.name, mode, buffering=0)  # unbuffered: a seek never writes (and fails) late
        self.failed: OSError | None = None

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, b):
        return self._f.readinto(b)

    def write(self, b):
        view = memoryview(b).cast("B")
        done = 0
        while self.failed is None and done < len(view):
            try:
                done += self._f.write(view[done:]) or 0
            except OSError as e:
                e.filename = e.filename or self.name
                self.failed = e
        return len(view)

    def seek(self, pos, whence=0):
        return self._f.seek(pos, whence)

    def tell(self):
        return self._f.tell()

    def truncate(self, size=None):
        if self.failed is None:
            try:
                return self._f.truncate(size)
            except OSError as e:
                self.failed = e
        return self._f.tell() if size is None else size

    def close(self):
        if not self.closed:
            with contextlib.suppress(OSError):
                self._f.close()
        super().close()

    def check(self) -> None:
        if self.failed is not None:
            raise self.failed


@contextlib.contextmanager
def hdf5_output(tmp, mode: str = "w", **kwargs):
    """An h5py.File writing `tmp` (a temporary path, see atomic_path) through an UnfailingFile.

    A failed write is raised once the file is closed (or when the body fails because of it), as the
    OSError it was, so atomic_path names a full disk.
    """
    import h5py

    fh = UnfailingFile(tmp, "r+b" if mode in ("a", "r+") and os.path.exists(tmp) else "w+b")
    try:
        h5 = h5py.File(fh, mode, **kwargs)
        try:
            yield h5
        except Exception as e:
            if fh.failed is not None:
                raise fh.failed from e  # the cause, not what it led to
            raise
        finally:
            h5.close()
    finally:
        fh.close()
    fh.check()
