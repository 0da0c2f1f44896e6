"""The `gpuclust` command: thin click wrappers around library functions.

Every command parses and validates its options, calls one library function and
reports. A GpuclustError becomes one line on stderr and exit code 2.
"""
from __future__ import annotations

import functools
import sys

import click

from gpuclust import __version__
from gpuclust.errors import GpuclustError


def friendly(fn):
    """Turn the library's user errors into one line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GpuclustError as e:
            click.echo(f"gpuclust: error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("gpuclust: interrupted; finished outputs are kept, nothing half-written was left", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gpuclust")
def cli():
    """Cluster seismic spectrograms: encoder, Gaussian mixture or K-means, t-SNE and a report, on GPU or CPU."""


def main():
    from . import commands  # noqa: F401  (registers the commands on `cli`)

    cli(prog_name="gpuclust")


if __name__ == "__main__":
    main()
