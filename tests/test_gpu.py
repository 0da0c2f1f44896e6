"""The same code paths on CuPy and CUDA PyTorch. Skipped without a GPU (the `gpu` marker)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_blobs

pytestmark = pytest.mark.gpu


def test_mixture_on_cupy_matches_numpy():
    import cupy

    from gpuclust import GaussianMixture

    x, _ = make_blobs(20000, 9, centers=8, random_state=0)
    cpu = GaussianMixture(8, random_state=0, tol=1e-6).fit(x)
    init = dict(weights_init=cpu.weights_, means_init=cpu.means_, precisions_init=np.linalg.inv(cpu.covariances_))
    ref = GaussianMixture(8, tol=1e-6, **init).fit(x)
    gpu = GaussianMixture(8, tol=1e-6, **init).fit(cupy.asarray(x, dtype=cupy.float32))
    assert isinstance(gpu.means_, cupy.ndarray) and gpu.means_.dtype == cupy.float32
    assert abs(gpu.lower_bound_ - ref.lower_bound_) < 1e-4 * abs(ref.lower_bound_)
    assert (cupy.asnumpy(gpu.predict(cupy.asarray(x))) == ref.predict(x)).mean() > 0.999


def test_metrics_and_kmeans_on_cupy():
    import cupy

    from gpuclust import KMeans
    from gpuclust.clustering.metrics import external_metrics, internal_metrics

    x, y = make_blobs(5000, 5, centers=4, random_state=1)
    xg = cupy.asarray(x)
    km = KMeans(4, random_state=0).fit(xg)
    assert isinstance(km.labels_, cupy.ndarray)
    assert external_metrics(y, km.labels_)["ari"] > 0.99
    a, b = internal_metrics(x, y, 4), internal_metrics(xg, cupy.asarray(y), 4)
    assert a["silhouette"] == pytest.approx(b["silhouette"], rel=1e-6)
    assert a["calinski_harabasz"] == pytest.approx(b["calinski_harabasz"], rel=1e-6)


def test_training_on_cuda_lowers_loss(synth_file, tmp_path):
    import torch

    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.splits import make_splits
    from gpuclust.models import AutoEncoder
    from gpuclust.training.sources import InMemory
    from gpuclust.training.trainer import TrainConfig, train_autoencoder

    sf = open_spectrograms(synth_file)
    sp = make_splits(np.arange(sf.n_rows), (0.7, 0.2, 0.1), 0)
    tr, va = InMemory(sf, sp.train, "l2", "cuda"), InMemory(sf, sp.val, "l2", "cuda")
    assert tr.x.dtype == torch.bfloat16 and tr.x.is_cuda
    torch.manual_seed(0)
    hist = train_autoencoder(AutoEncoder(), tr, va, TrainConfig(epochs=3, quiet=True), tmp_path, "cuda")
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]


def test_run_on_cuda_end_to_end(tmp_path, monkeypatch):
    from gpuclust_cli.commands import cli

    monkeypatch.setenv("GPUCLUST_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(cli, ["run", "--synth-rows", "600", "--epochs", "2", "--k", "4", "--device", "cuda",
                                 "-q", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    m = json.load(open(tmp_path / "out" / "metrics.json"))
    assert m["device"] == "cuda" and m["n"] == 600


def test_estimators_on_torch_cuda_and_cupy_equal_numpy():
    """The array-API code on the GPU, in float64, gives NumPy's (= scikit-learn's) fit; float32 the same labels."""
    import cupy
    import torch
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.metrics import adjusted_rand_score

    from gpuclust import GaussianMixture, KMeans
    from gpuclust.backend import to_numpy

    x, _ = make_blobs(20000, 9, centers=8, random_state=0)
    ref = GaussianMixture(8, random_state=0).fit(x)
    km_ref = SkKMeans(8, random_state=0).fit(x)
    for make in (lambda a: torch.asarray(a, device="cuda"), cupy.asarray):
        g = GaussianMixture(8, random_state=0).fit(make(x))
        assert g.n_iter_ == ref.n_iter_ and abs(g.lower_bound_ - ref.lower_bound_) < 1e-9 * abs(ref.lower_bound_)
        assert adjusted_rand_score(to_numpy(g.predict(make(x))), ref.predict(x)) == 1.0
        km = KMeans(8, random_state=0, engine="array_api").fit(make(x))
        assert (to_numpy(km.labels_) == km_ref.labels_).all()
        g32 = GaussianMixture(8, random_state=0).fit(make(x.astype(np.float32)))
        assert adjusted_rand_score(to_numpy(g32.predict(make(x.astype(np.float32)))), ref.predict(x)) > 0.999
