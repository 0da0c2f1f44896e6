"""The CLI's error boundary: whatever a user can cause ends in one line and exit code 2.

A bad file, path, option or dataset (GpuclustError, an OSError, a full disk, running out of
memory) is said in one line naming it, exit code 2; a bug in gpuclust ends in one line and exit
code 1, with the traceback only under --debug (or GPUCLUST_DEBUG=1), for bug reports.

SIGTERM (what a batch scheduler sends at its time limit, and `kill`) unwinds like Ctrl-C, so the
same cleanup runs (temporary files removed, the run's lock released, finished stages kept): one
line, exit code 143 (130 for Ctrl-C), and where the command has --resume, how to continue.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
import threading

import click

from gpuclust import __version__
from gpuclust.atomic import disk_full
from gpuclust.errors import GpuclustError

USER_ERROR, INTERNAL_ERROR, INTERRUPTED, TERMINATED = 2, 1, 130, 128 + signal.SIGTERM
BROKEN_PIPE = 128 + signal.SIGPIPE  # as a command the shell's SIGPIPE stopped


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: a KeyboardInterrupt, so it meets every cleanup Ctrl-C meets."""


_terminated = False


def _on_sigterm(signum, frame):
    global _terminated
    _terminated = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the cleanup short
    raise Terminated()


def _stopped_message(e: BaseException) -> str:
    """The one line for Ctrl-C or SIGTERM: what happened, what is kept, how to go on."""
    what = "terminated (SIGTERM)" if _terminated else "interrupted"
    msg = f"{what}; finished outputs are kept, nothing half-written was left"
    ctx = click.get_current_context(silent=True)
    if ctx is None or not any(p.name == "resume" for p in ctx.command.params):
        return msg
    where = getattr(e, "resume_dir", "")  # set by the pipeline: the run directory, or None if it kept nothing
    if where is None:
        return msg + "; no stage had finished: run the same command again to start over"
    return msg + (f"; to continue, run the same command with --resume -o {where}" if where
                  else "; to continue, run the same command with --resume")


def _debug() -> bool:
    return os.environ.get("GPUCLUST_DEBUG", "") not in ("", "0")


def _say(msg: str) -> None:
    click.echo(f"gpuclust: {' '.join(str(msg).split())}", err=True)


@contextlib.contextmanager
def user_error():
    """A GpuclustError raised outside a command (by the group's own options) in the same one line, exit 2."""
    try:
        yield
    except GpuclustError as e:
        _say(f"error: {e}")
        sys.exit(USER_ERROR)


def os_error_message(e: OSError) -> str:
    """One line for an operating-system error: the file, and what went wrong with it."""
    where = e.filename or ""
    if e.errno == errno.ENOSPC:
        return f"error: no space left on the device while writing {where}".rstrip()
    if isinstance(e, PermissionError):
        return f"error: {where}: permission denied"
    if isinstance(e, FileNotFoundError):
        return f"error: {where}: no such file or directory"
    reason = e.strerror or str(e)
    return f"error: {where + ': ' if where else ''}{reason}"


def friendly(fn):
    """Run a command inside the error boundary (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _terminated
        _terminated = False
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
        try:
            return fn(*args, **kwargs)
        except GpuclustError as e:
            _say(f"error: {e}")
            sys.exit(USER_ERROR)
        except KeyboardInterrupt as e:
            _say(_stopped_message(e))
            sys.exit(TERMINATED if _terminated else INTERRUPTED)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort):
            raise
        except Exception as e:
            if _terminated:  # what the signal led to (a worker process it also stopped), not a new fault
                _say(_stopped_message(e))
                sys.exit(TERMINATED)
            if _debug():
                raise
            if isinstance(e, BrokenPipeError) and e.filename is None:  # stdout's reader went away (`| head`)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing to flush into at exit
                sys.exit(BROKEN_PIPE)
            if disk_full(e):
                _say(full_disk_message(e))
                sys.exit(USER_ERROR)
            if isinstance(e, OSError):
                _say(os_error_message(e))
                sys.exit(USER_ERROR)
            if isinstance(e, MemoryError):
                _say("error: out of memory; try a smaller --batch-size, fewer rows, or a machine with more memory")
                sys.exit(USER_ERROR)
            # a bug: say so in one line; the traceback is for --debug
            _say(f"internal error ({type(e).__name__}: {e}). This is a bug in gpuclust {__version__}: run the "
                 "same command with --debug for the traceback and please report it")
            sys.exit(INTERNAL_ERROR)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)

    return wrapper


def full_disk_message(e: BaseException) -> str:
    """A full disk met by a writer gpuclust does not wrap itself: the file, where the error names it."""
    import re

    while e is not None:
        where = getattr(e, "filename", None) or (re.findall(r"filename = '([^']+)'", str(e)) or [None])[0]
        if where:
            return f"error: the disk is full (no space left on the device) while writing {where}"
        e = e.__cause__ or e.__context__
    return "error: the disk is full (no space left on the device)"
