"""The `gpuclust` command: the group, its global options, and the registration of every command.

Commands are thin click wrappers around library functions, defined in analysis.py, data.py and
pipeline.py and registered here, by the entry module, so that `python -m gpuclust_cli.main` and
the installed `gpuclust` list the same commands. Each runs inside the error boundary (boundary.py).
"""
from __future__ import annotations

import os

import click

from gpuclust import __version__
from gpuclust.threads import MAX_THREADS

from . import analysis, data, explore, pipeline


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gpuclust")
@click.option("--debug", is_flag=True, help="Show the full traceback of an internal error (for bug reports).")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=None,
              help="CPU threads for torch and BLAS [the cores not busy with other work].")
@click.option("--portable", is_flag=True, envvar="GPUCLUST_PORTABLE",
              help="The same results on any x86-64 CPU with AVX2: every library takes its AVX2 code path "
                   "(slower on CPUs with more; see the README's Reproducible results).")
def cli(debug, threads, portable):
    """Cluster seismic spectrograms: encoder, Gaussian mixture or K-means, t-SNE and a report, on GPU or CPU."""
    from gpuclust.threads import configure

    if debug:
        os.environ["GPUCLUST_DEBUG"] = "1"
    if portable:
        from gpuclust import portable as pins

        from .boundary import user_error

        with user_error():
            pins.enable()  # before any command loads NumPy or torch, which read the pins once
    configure(threads)


COMMANDS = (data.synth, data.spectrograms, data.info, data.embed,
            pipeline.run, pipeline.train, pipeline.predict,
            analysis.cluster, analysis.select_k, analysis.tsne, analysis.report, analysis.bench, analysis.compare,
            explore.explore, explore.name)
for _command in COMMANDS:
    cli.add_command(_command)


def main():
    from gpuclust.threads import configure_before_import

    configure_before_import()
    cli(prog_name="gpuclust")


if __name__ == "__main__":
    main()
