"""The run configuration: defaults < a config file (TOML or YAML) < options given on the command line."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from ..errors import GpuclustError
from ..threads import MAX_THREADS


GPU_BATCH_SIZE = 256  # the training batch on a GPU when none is given (RunConfig.for_device)
# With k "auto": the K refinement and DEC use before the sweep has chosen one, and the fewest training rows
# the sweep itself needs (it tries K = 2 and 3 at least, and K must stay below the rows).
K_BEFORE_SWEEP = 8
SWEEP_MIN_ROWS = 4


@dataclass
class RunConfig:
    # data
    data: str | None = None  # None: the built-in synthetic benchmark, generated on first use
    group: str | None = None
    dataset: str | None = None
    freqs_dataset: str | None = None
    times_dataset: str | None = None
    labels_dataset: str | None = None
    synth_rows: int = 6000
    norm: str = "log-aligned"  # the reference: "l2"
    bad_rows: str = "skip"
    split: list = field(default_factory=lambda: [0.7, 0.2, 0.1])
    train_rows: int | None = None  # train and refine on a seeded sample of this many usable rows; encode all
    # encoder
    model: str = "ae"
    latent_dim: int = 12  # the reference: 9
    latent_activation: str = "linear"  # the reference: "relu" (its units can die: stuck at zero)
    objective: str = "mixture"  # refined with the mixture as clustering objective; the reference: "reconstruction"
    refine_epochs: int = 10
    refine_gamma: float = 20.0
    unet_skips: str = "all"
    epochs: int = 30
    batch_size: int | None = None  # None: 64 on the CPU, GPU_BATCH_SIZE on a GPU (see for_device)
    lr: float | None = None  # None: 1e-3, scaled by sqrt(batch / 64) with the GPU's default batch
    patience: int = 10
    memory_budget_gb: float = 4.0  # host memory for holding the training set (CPU); the GPU uses its free memory
    # DEC
    dec: bool = False
    dec_gamma: float = 1e-3
    dec_tol: float = 0.003
    dec_epochs: int = 10
    # clustering
    method: str = "gmm"
    k: int | str = 8  # or "auto" (see k_before_sweep)
    k_max: int = 12
    covariance_type: str = "full"
    n_init: int = 4
    fit_on: str = "all"  # the rows the clusterer is fitted on: "all" usable rows, or the "train" split
    novelty_percentile: float = 1.0  # events scoring below this percentile of the reference rows are "unknown"
    novelty_score: str = "combined"  # or "likelihood" (gpuclust.clustering.novelty)
    # outputs
    format: str = "csv"  # catalogue: labels.csv always; "quakeml" adds catalogue.xml
    overlay: str | None = None  # a time,value CSV (temperature, tide, ...) drawn beside the counts over time
    # t-SNE
    tsne_max_points: int | None = None  # None: 5,000 on CPU, 100,000 on GPU
    # running
    device: str = "auto"
    # torch and BLAS threads of the training, refinement, encoding and clustering, whose results depend on the
    # count: fixed, the run is reproducible whatever --threads and the load; "auto" (--threads' count) is not
    compute_threads: int | str = 2
    dask: str | None = None  # None: one process; local, local-cuda, tcp://HOST:PORT or a scheduler file
    dask_workers: int | None = None  # for --dask local: worker processes (default: one per core)
    seed: int = 0
    out: str | None = None
    quiet: bool = False

    @property
    def k_before_sweep(self) -> int:
        """The K the encoder is refined towards (mixture refinement, DEC): k, or with k "auto" the default
        K, since the sweep that chooses K runs on the final latents, after the refinement."""
        return int(self.k) if self.k != "auto" else K_BEFORE_SWEEP

    def validate(self) -> "RunConfig":
        """Types and values of every option, checked before any work (a config file can hold anything)."""
        from ..data.normalise import NORMALISATIONS

        self._coerce_types()
        choices = {"norm": NORMALISATIONS, "bad_rows": ("skip", "refuse"),
                   "model": ("ae", "unet"), "unet_skips": ("all", "none", "no_full"), "method": ("gmm", "kmeans"),
                   "covariance_type": ("full", "tied", "diag", "spherical"), "device": ("auto", "cpu", "cuda"),
                   "objective": OBJECTIVES, "latent_activation": ("linear", "relu"), "format": ("csv", "quakeml"), "fit_on": ("all", "train"),
                   "novelty_score": ("combined", "likelihood")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise GpuclustError(f"{name} = {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if isinstance(self.k, str):
            if self.k != "auto":
                try:
                    self.k = int(self.k)
                except ValueError:
                    raise GpuclustError(f"k must be a whole number or 'auto', got {self.k!r}")
        if self.compute_threads != "auto":
            try:
                self.compute_threads = int(self.compute_threads)
            except (TypeError, ValueError):
                raise GpuclustError(f"compute_threads must be a whole number or 'auto', got {self.compute_threads!r}")
            if not 1 <= self.compute_threads <= MAX_THREADS:
                raise GpuclustError(f"compute_threads must be between 1 and {MAX_THREADS}, got {self.compute_threads}")
        if isinstance(self.k, int) and self.k < 1:
            raise GpuclustError(f"k must be at least 1, got {self.k}")
        for name in ("epochs", "batch_size", "latent_dim", "synth_rows", "k_max", "n_init", "dec_epochs", "patience",
                     "refine_epochs", "train_rows"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise GpuclustError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 16 <= self.synth_rows <= 427_798:
            raise GpuclustError(f"synth_rows must be between 16 and 427798, got {self.synth_rows}")
        if self.k_max < 3:
            raise GpuclustError(f"k_max must be at least 3, got {self.k_max}")
        if self.tsne_max_points is not None and self.tsne_max_points < 10:
            raise GpuclustError(f"tsne_max_points must be at least 10, got {self.tsne_max_points}")
        for name in ("lr", "memory_budget_gb", "dec_gamma", "dec_tol", "refine_gamma"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise GpuclustError(f"{name} must be positive, got {getattr(self, name)}")
        if len(self.split) != 3 or any(not isinstance(v, (int, float)) or v < 0 for v in self.split) \
                or self.split[0] <= 0 or abs(sum(self.split) - 1) > 1e-6:
            raise GpuclustError(f"split must be three fractions (train, validation, test) with train > 0 that sum "
                                f"to 1, got {self.split}")
        if self.dec and self.objective == "mixture":
            raise GpuclustError("--dec and --objective mixture both refine the encoder for clustering; choose one "
                                "(--dec is the reference's DEC, --objective mixture the mixture-based refinement)")
        if self.overlay is not None and not os.path.isfile(self.overlay):
            raise GpuclustError(f"{self.overlay}: no such overlay file (time,value CSV)")
        if not 0 <= self.novelty_percentile < 100:
            raise GpuclustError(f"novelty_percentile must be at least 0 and below 100, got {self.novelty_percentile}")
        if self.dask_workers is not None and self.dask_workers < 1:
            raise GpuclustError(f"dask_workers must be at least 1, got {self.dask_workers}")
        return self

    def _coerce_types(self) -> None:
        """Each option to its declared type, with a one-line error naming it (e.g. epochs = "many")."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = _KINDS.get(f.name)
            if value is None or kind is None:
                continue
            try:
                if kind is bool:
                    if not isinstance(value, bool):
                        raise ValueError
                elif kind is int:
                    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                        raise ValueError
                    value = int(value)
                elif kind is float:
                    if isinstance(value, bool):
                        raise ValueError
                    value = float(value)
                elif kind is str:
                    if not isinstance(value, str):
                        raise ValueError
                elif kind is list:
                    if not isinstance(value, (list, tuple)):
                        raise ValueError
                    value = [float(v) for v in value]
            except (TypeError, ValueError):
                what = {int: "a whole number", float: "a number", str: "text", bool: "true or false",
                        list: "a list of numbers"}[kind]
                raise GpuclustError(f"option {f.name} must be {what}, got {value!r}")
            setattr(self, f.name, value)

    def for_device(self, device: str) -> "RunConfig":
        """Fill the training options left unset with the device's defaults (batch 64 and lr 1e-3 on the CPU).

        On a GPU, batch 64 leaves the device waiting on kernel launches (an H100 trained 16,671
        spectrograms/s at 64 and 118,517/s at 512); a larger batch with the rate scaled by the square
        root of the batch ratio (Adam's usual rule) keeps it busy. A batch size given without a rate
        keeps 1e-3, as before. benchmarks/gpu_session.sh measures
        throughput and quality at 64/256/512 to confirm the choice.
        """
        chosen = self.batch_size is None
        if chosen:
            self.batch_size = GPU_BATCH_SIZE if device == "cuda" else 64
        if self.lr is None:  # a batch size given without a rate keeps the rate it always had
            self.lr = 1e-3 * ((self.batch_size / 64) ** 0.5 if chosen else 1.0)
        return self

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def record(self) -> dict:
        """config.json: the options, and whether rerunning them gives the same results (see compute_threads)."""
        from ..threads import reproducible

        out = self.as_dict()
        out["reproducible"] = reproducible(self.compute_threads)
        if not out["reproducible"]:
            out["reproducible_note"] = ("compute_threads 'auto': training and clustering ran on the cores free at "
                                        "the start; another count gives other numbers (environment.json says which)")
        return out


OBJECTIVES = ("reconstruction", "mixture")

# The declared kind of every option whose value a config file may give (k may also be "auto").
_KINDS = {
    "data": str, "group": str, "dataset": str, "freqs_dataset": str, "times_dataset": str, "labels_dataset": str,
    "synth_rows": int, "norm": str, "bad_rows": str, "split": list, "model": str, "latent_dim": int,
    "unet_skips": str, "epochs": int, "batch_size": int, "lr": float, "patience": int, "memory_budget_gb": float,
    "dec": bool, "dec_gamma": float, "dec_tol": float, "dec_epochs": int, "method": str, "k_max": int,
    "covariance_type": str, "n_init": int, "tsne_max_points": int, "device": str, "dask": str, "dask_workers": int,
    "seed": int, "out": str, "quiet": bool, "objective": str, "latent_activation": str, "novelty_percentile": float, "format": str, "overlay": str, "refine_epochs": int, "refine_gamma": float, "fit_on": str,
    "train_rows": int, "novelty_score": str,
}


def read_config_file(path) -> dict:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise GpuclustError(f"{path}: no such config file")
    try:
        if path.endswith(".toml"):
            import tomllib

            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        elif path.endswith((".yaml", ".yml")):
            import yaml

            with open(path) as fh:
                raw = yaml.safe_load(fh) or {}
        else:
            raise GpuclustError(f"{path}: config files must end in .toml, .yaml or .yml")
    except GpuclustError:
        raise
    except Exception as e:
        raise GpuclustError(f"{path}: cannot parse config ({type(e).__name__}: {e})".replace("\n", " "))
    if not isinstance(raw, dict):
        raise GpuclustError(f"{path}: the config must be a table of option = value")
    return {k.replace("-", "_"): v for k, v in raw.items()}


def make_config(file: str | None = None, **given) -> RunConfig:
    """Defaults, overridden by the file, overridden by the options given (None means not given)."""
    values = read_config_file(file) if file else {}
    values.update({k: v for k, v in given.items() if v is not None})
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GpuclustError(f"unknown config option(s): {', '.join(unknown)}")
    return RunConfig(**values).validate()
