"""Options shared by several commands."""
from __future__ import annotations

import click

existing_file = click.Path(dir_okay=False)  # existence is checked by the library, with one-line errors
# gpuclust.data.normalise.NORMALISATIONS, spelled out so that the CLI starts without importing NumPy (a test
# keeps the two equal)
NORMALISATIONS = ("log-aligned", "log", "l2", "maxabs", "none")


def data_options(fn):
    """Options that say where the spectrograms are inside a file."""
    for opt in reversed([
        click.option("--group", help="RIS segment-length group, e.g. 4.0 (automatic when the file has one)."),
        click.option("--dataset", help="Plain layout: the (N, H, W) or (N, 1, H, W) dataset to read instead of RIS."),
        click.option("--freqs-dataset", help="Plain layout: dataset holding the frequency vector (Hz)."),
        click.option("--times-dataset", help="Plain layout: dataset holding the time vector (s)."),
        click.option("--labels-dataset", help="Plain layout: dataset of ground-truth labels, if any."),
    ]):
        fn = opt(fn)
    return fn


device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                             show_default=True, help="Where to compute; auto picks a working GPU.")
