"""What several stages use: the data file, the split, the encoder's configuration and checkpoint."""
from __future__ import annotations

import os

import numpy as np

from ...data.spectrograms import open_spectrograms
from ...errors import GpuclustError
from ...models.autoencoder import CHANNELS
from ..config import SWEEP_MIN_ROWS, RunConfig


def default_data_path(rows: int, seed: int) -> str:
    root = os.environ.get("GPUCLUST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gpuclust")
    return os.path.join(root, f"synthetic-{rows}-seed{seed}.h5")


def ensure_default_data(cfg: RunConfig, log) -> str:
    """The built-in dataset: the synthetic benchmark, generated once and cached."""
    from ...data.synth import write_synthetic

    path = default_data_path(cfg.synth_rows, cfg.seed)
    if not os.path.exists(path):
        log(f"generating the built-in synthetic dataset ({cfg.synth_rows} spectrograms) at {path}")
        write_synthetic(path, cfg.synth_rows, seed=cfg.seed)
    return path


def open_data(cfg: RunConfig):
    return open_spectrograms(cfg.data, cfg.group, cfg.dataset, cfg.freqs_dataset, cfg.times_dataset,
                             cfg.labels_dataset)


def data_spec(cfg: RunConfig) -> dict:
    """The data file as the Dask workers open it."""
    return {"path": os.path.abspath(cfg.data), "group": cfg.group, "dataset": cfg.dataset,
            "freqs_dataset": cfg.freqs_dataset, "times_dataset": cfg.times_dataset,
            "labels_dataset": cfg.labels_dataset}


def check_k(cfg: RunConfig, n_train: int, n_usable: int, n_rows: int) -> None:
    """K against the rows the clustering is fitted on, before any training."""
    need = cfg.k if cfg.k != "auto" else SWEEP_MIN_ROWS
    if need > n_train:
        raise GpuclustError(
            f"K = {cfg.k} clusters asked for, but the clustering is fitted on the training split: "
            f"{n_train} of the file's {n_usable} usable rows ({n_rows} in all); use a smaller --k or more data")
    if n_train < 2 and (cfg.method == "gmm" or cfg.objective == "mixture"):  # the refinement fits one too
        raise GpuclustError(
            f"a Gaussian mixture is fitted on the training split, {n_train} of the file's {n_usable} usable rows "
            f"({n_rows} in all), and needs at least 2; use more data")


def load_splits(ctx) -> dict:
    """The data stage's split, from splits.npz (original row indices)."""
    with np.load(ctx.run.file("splits.npz")) as z:
        return {k: z[k] for k in z.files}


def sample_rows(sp: dict) -> np.ndarray:
    """The rows the encoder is trained and refined on: the split's three parts (all rows without train_rows)."""
    return np.sort(np.concatenate([sp["train"], sp["val"], sp["test"]]))


def all_rows(sp: dict) -> np.ndarray:
    """Every usable row: the sample and, with train_rows, the rows outside it (encoded and clustered too)."""
    rest = sp.get("rest")
    return sample_rows(sp) if rest is None or not len(rest) else np.sort(np.concatenate([sample_rows(sp), rest]))


def model_config(cfg: RunConfig, shape) -> dict:
    if cfg.model == "ae":
        return {"arch": "ae", "input_shape": list(shape), "latent_dim": cfg.latent_dim, "channels": list(CHANNELS),
                "latent_activation": cfg.latent_activation}
    return {"arch": "unet", "input_shape": list(shape), "latent_dim": cfg.latent_dim, "base": 8,
            "skips": cfg.unet_skips, "dropout": 0.1, "latent_activation": cfg.latent_activation}


def encoder_checkpoint(cfg: RunConfig) -> str:
    """The checkpoint the later stages encode with: DEC's, the refined one, or the trained one."""
    if cfg.dec:
        return "encoder_dec.pt"
    return "refined.pt" if cfg.objective == "mixture" else "best.pt"


def data_description(cfg: RunConfig, sf) -> dict:
    """What new data must match to be labelled by this run's model (and how waveforms were cut)."""
    import json

    params = detection = None
    try:
        g = sf.h5[sf.dataset.rsplit("/", 1)[0] or "/"]
        if "gpuclust_params" in g.attrs:
            params = json.loads(g.attrs["gpuclust_params"])
        if "gpuclust_detection" in g.attrs:  # cut by an archive job: margins, response removal, thresholds
            detection = json.loads(g.attrs["gpuclust_detection"])
    except (KeyError, ValueError):
        params = detection = None
    return {"norm": cfg.norm, "image_shape": list(sf.shape), "layout": sf.layout, "group": cfg.group,
            "dataset": cfg.dataset, "freqs_dataset": cfg.freqs_dataset, "times_dataset": cfg.times_dataset,
            "freqs": None if sf.freqs is None else [float(f) for f in sf.freqs],
            "times": None if sf.times is None else [float(t) for t in sf.times],
            "waveform_params": params, "waveform_detection": detection, "source": os.path.abspath(cfg.data)}


def describe_data_file(cfg: RunConfig, sf) -> dict:
    """What later stages need of the data file besides its rows (small): its description, its class names."""
    return {"description": data_description(cfg, sf), "class_names": sf.class_names}


def load_data_file(ctx) -> dict:
    """describe_data_file, from the data file itself (after a resume skipped the data stage)."""
    with open_data(ctx.cfg) as sf:
        return describe_data_file(ctx.cfg, sf)
