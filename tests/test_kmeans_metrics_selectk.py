"""K-means (scikit-learn on CPU; cuML through a stand-in), metrics, and choosing K."""
import sys
import types

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from gpuclust import KMeans
from gpuclust.clustering import kmeans as kmeans_mod
from gpuclust.clustering.metrics import external_metrics, internal_metrics
from gpuclust.clustering.select_k import sweep
from gpuclust.errors import GpuclustError


def test_kmeans_on_numpy_uses_sklearn_and_finds_blobs():
    x, y = make_blobs(1500, 5, centers=4, random_state=0)
    km = KMeans(4, n_init=2, random_state=0).fit(x)
    assert km.cluster_centers_.shape == (4, 5) and km.inertia_ > 0
    assert external_metrics(y, km.labels_)["ari"] > 0.99
    np.testing.assert_array_equal(km.predict(x), km.labels_)
    with pytest.raises(GpuclustError, match="K = 9"):
        KMeans(9).fit(x[:5])


class FakeCuML:
    """Stands in for cuml: records the constructor call and checks the input is a 'CuPy' array."""

    calls = []

    class cluster:
        class KMeans:
            def __init__(self, **kwargs):
                allowed = {"n_clusters", "max_iter", "tol", "verbose", "random_state", "init", "n_init",
                           "oversampling_factor", "max_samples_per_batch", "device_buffer_samples",
                           "init_size", "output_type"}
                assert set(kwargs) <= allowed, set(kwargs) - allowed  # cuML 26.10's documented arguments
                assert kwargs["init"] in ("scalable-k-means++", "k-means||", "k-means++", "random")
                assert kwargs["output_type"] == "cupy"
                FakeCuML.calls.append(kwargs)
                self.kw = kwargs

            def fit(self, x):
                from sklearn.cluster import KMeans as Sk

                sk = Sk(self.kw["n_clusters"], n_init=1, random_state=0).fit(np.asarray(x))
                self.cluster_centers_, self.labels_ = sk.cluster_centers_, sk.labels_
                self.inertia_, self.n_iter_ = sk.inertia_, sk.n_iter_
                self._sk = sk
                return self

            def predict(self, x):
                return self._sk.predict(np.asarray(x))


def test_kmeans_on_cupy_input_calls_cuml_as_documented(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuml", FakeCuML)
    fake_xp = types.SimpleNamespace()
    monkeypatch.setattr(kmeans_mod, "array_namespace", lambda *a: fake_xp)
    monkeypatch.setattr(kmeans_mod, "check_latents", lambda x, k=None: x)
    fake_xp.asarray = np.asarray
    x, _ = make_blobs(300, 3, centers=3, random_state=0)
    km = KMeans(3, random_state=7, n_init=1).fit(x)
    call = FakeCuML.calls[-1]
    assert call["n_clusters"] == 3 and call["init"] == "scalable-k-means++" and call["random_state"] == 7
    assert km.labels_.shape == (300,)


def test_internal_metrics_match_sklearn():
    x, y = make_blobs(900, 4, centers=3, random_state=3)
    m = internal_metrics(x, y, 3, sample_size=10000)
    assert np.isclose(m["silhouette"], silhouette_score(x, y), atol=1e-7)
    assert np.isclose(m["calinski_harabasz"], calinski_harabasz_score(x, y))
    assert np.isclose(m["davies_bouldin"], davies_bouldin_score(x, y))
    assert m["cluster_sizes"] == np.bincount(y).tolist() and len(m["silhouette_per_cluster"]) == 3


def test_external_metrics_hungarian_accuracy():
    truth = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    pred = np.array([2, 2, 1, 0, 0, 0, 1, 1])  # one mistake, clusters renamed
    m = external_metrics(truth, pred)
    assert m["accuracy"] == pytest.approx(7 / 8) and 0 < m["ari"] < 1 and 0 < m["nmi"] < 1


def test_select_k_finds_the_true_number_of_blobs():
    x, _ = make_blobs(1500, 3, centers=4, cluster_std=0.6, random_state=11)
    res = sweep(x, range(2, 8), seed=0, n_refs=3)
    assert res["suggestion"]["gmm"]["k"] == 4
    assert res["suggestion"]["kmeans"]["k"] == 4
    assert {"bic", "aic", "inertia", "silhouette", "gap"} <= set(res["rows"][0])


def test_dask_kmeans_uses_cuml_dask_for_cupy_partitions_as_documented(monkeypatch):
    """cuml.dask.cluster.KMeans(client=..., n_clusters=..., ...) then fit(dask_array): checked by a stand-in."""
    from gpuclust.distributed import kmeans as dk

    calls = {}

    class FakeCuDaskKMeans:
        def __init__(self, *, client=None, verbose=False, **kwargs):
            assert set(kwargs) <= {"n_clusters", "max_iter", "tol", "random_state", "init", "n_init",
                                   "oversampling_factor", "max_samples_per_batch"}
            calls["init"] = dict(client=client, **kwargs)

        def fit(self, x):
            calls["fit"] = x
            self.cluster_centers_ = np.zeros((3, 2))
            self.inertia_ = 1.5
            self.n_iter_ = 4
            return self

    fake = types.ModuleType("cuml.dask.cluster")
    fake.KMeans = FakeCuDaskKMeans
    for name, mod in (("cuml", types.ModuleType("cuml")), ("cuml.dask", types.ModuleType("cuml.dask")),
                      ("cuml.dask.cluster", fake)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(dk, "_cupy_chunks", lambda x: True)
    monkeypatch.setattr(dk, "check_dask_latents", lambda x, k, dtype: x)
    sentinel = object()
    km = dk.DaskKMeans(3, client="CLIENT", random_state=5).fit(sentinel)
    assert calls["fit"] is sentinel
    assert calls["init"]["client"] == "CLIENT" and calls["init"]["n_clusters"] == 3
    assert calls["init"]["init"] == "scalable-k-means++" and calls["init"]["random_state"] == 5
    assert km.inertia_ == 1.5 and km.n_iter_ == 4


def test_own_lloyd_engine_matches_scikit_learn_from_the_same_centres():
    """The engine CuPy input uses when cuML is absent, run here on NumPy: the same code path."""
    from sklearn.cluster import KMeans as Sk

    x, _ = make_blobs(3000, 4, centers=5, cluster_std=2.0, random_state=3)
    init = x[:5]
    sk = Sk(5, init=init, n_init=1, algorithm="lloyd", tol=1e-4, max_iter=300).fit(x)
    ours = KMeans(5, init=init, engine="lloyd", tol=1e-4).fit(x)
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=1e-8, atol=1e-8)
    np.testing.assert_array_equal(ours.labels_, sk.labels_)
    assert ours.inertia_ == pytest.approx(sk.inertia_, rel=1e-9)
    seeded = KMeans(5, engine="lloyd", n_init=3, random_state=0).fit(x)
    assert external_metrics(sk.labels_, seeded.labels_)["ari"] > 0.9
