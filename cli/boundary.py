"""The CLI's error boundary: whatever a user can cause ends in one line and exit code 2.

A bad file, path, option or dataset (GpuclustError, an OSError, running out of memory) is
said in one line naming it, exit code 2; a bug in gpuclust ends in one line and exit code 1,
with the traceback only under --debug (or GPUCLUST_DEBUG=1), for bug reports.
"""
from __future__ import annotations

import errno
import functools
import os
import sys

import click

from gpuclust import __version__
from gpuclust.errors import GpuclustError

USER_ERROR, INTERNAL_ERROR, INTERRUPTED = 2, 1, 130


def _debug() -> bool:
    return os.environ.get("GPUCLUST_DEBUG", "") not in ("", "0")


def _say(msg: str) -> None:
    click.echo(f"gpuclust: {' '.join(str(msg).split())}", err=True)


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
        try:
            return fn(*args, **kwargs)
        except GpuclustError as e:
            _say(f"error: {e}")
            sys.exit(USER_ERROR)
        except KeyboardInterrupt:
            _say("interrupted; finished outputs are kept, nothing half-written was left")
            sys.exit(INTERRUPTED)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort):
            raise
        except OSError as e:
            if _debug():
                raise
            _say(os_error_message(e))
            sys.exit(USER_ERROR)
        except MemoryError:
            if _debug():
                raise
            _say("error: out of memory; try a smaller --batch-size, fewer rows, or a machine with more memory")
            sys.exit(USER_ERROR)
        except Exception as e:  # a bug: say so in one line; the traceback is for --debug
            if _debug():
                raise
            _say(f"internal error ({type(e).__name__}: {e}). This is a bug in gpuclust {__version__}: run the "
                 "same command with --debug for the traceback and please report it")
            sys.exit(INTERNAL_ERROR)

    return wrapper
