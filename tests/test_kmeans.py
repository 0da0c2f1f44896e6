"""gpuclust.KMeans: scikit-learn's estimator on NumPy, its algorithm on other arrays, cuML where it runs."""
import sys
import types

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

from gpuclust import KMeans
from gpuclust.clustering.metrics import external_metrics


def test_kmeans_on_numpy_is_scikit_learn():
    x, y = make_blobs(1500, 5, centers=4, random_state=0)
    km = KMeans(4, n_init=2, random_state=0).fit(x)
    ref = SkKMeans(4, n_init=2, random_state=0).fit(x)
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    assert external_metrics(y, km.labels_)["ari"] > 0.99
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=9"):
        KMeans(9).fit(x[:5])


@pytest.mark.parametrize("seed", range(4))
def test_array_api_engine_is_scikit_learns_algorithm(seed):
    """The engine CuPy and other arrays use, run here on NumPy: same start, same iterations, same end."""
    x, _ = make_blobs(3000, 4, centers=6, cluster_std=2.5, random_state=seed)
    ref = SkKMeans(6, random_state=seed, n_init=2).fit(x)
    ours = KMeans(6, random_state=seed, n_init=2, engine="array_api").fit(x)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert ours.n_iter_ == ref.n_iter_ and ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-12)


def test_empty_clusters_are_relocated_as_scikit_learn_does():
    x = np.r_[np.random.default_rng(0).standard_normal((100, 2)), np.random.default_rng(1).standard_normal((100, 2)) + 10]
    init = np.array([[0, 0], [10, 10], [100, 100.0]])
    ref = SkKMeans(3, init=init, n_init=1).fit(x)
    ours = KMeans(3, init=init, n_init=1, engine="array_api").fit(x)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_)


def _fake_cuml(calls):
    """Stands in for cuml (26.10): checks the constructor and fit arguments against the documented API."""

    class FakeKMeans:
        def __init__(self, **kwargs):
            allowed = {"handle", "n_clusters", "max_iter", "tol", "verbose", "random_state", "init", "n_init",
                       "oversampling_factor", "max_samples_per_batch", "output_type"}
            assert set(kwargs) <= allowed, set(kwargs) - allowed
            calls.append(kwargs)
            self.kw = kwargs

        def fit(self, x, y=None, sample_weight=None, *, convert_dtype=True):
            calls.append({"fit_dtype": x.dtype, "convert_dtype": convert_dtype, "weights": sample_weight})
            sk = SkKMeans(self.kw["n_clusters"], init=np.asarray(self.kw["init"]), n_init=1,
                          max_iter=self.kw["max_iter"], tol=self.kw["tol"]).fit(x, sample_weight=sample_weight)
            self.cluster_centers_, self.labels_ = sk.cluster_centers_, sk.labels_
            self.inertia_, self.n_iter_ = sk.inertia_, sk.n_iter_
            return self

    mod = types.ModuleType("cuml")
    mod.cluster = types.SimpleNamespace(KMeans=FakeKMeans)
    return mod


def test_cuml_engine_starts_cuml_from_scikit_learns_centres(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "cuml", _fake_cuml(calls))
    x, _ = make_blobs(800, 3, centers=4, random_state=0)
    km = KMeans(4, random_state=7, engine="cuml").fit(x)
    ctor, fit = calls[0], calls[1]
    assert ctor["n_clusters"] == 4 and ctor["n_init"] == 1 and ctor["output_type"] == "cupy"
    assert not isinstance(ctor["init"], str)  # our k-means++ centres, not cuML's own seeding
    assert fit["convert_dtype"] is False and fit["fit_dtype"] == np.float64
    np.testing.assert_array_equal(km.labels_, SkKMeans(4, random_state=7).fit(x).labels_)


def test_dask_kmeans_starts_cuml_dask_from_the_same_centres(monkeypatch):
    """cuml.dask.cluster.KMeans(client=..., init=<our centres>, ...).fit(X), predict(X), score(X): a stand-in."""
    da = pytest.importorskip("dask.array")
    from gpuclust.distributed import kmeans as dk

    calls = {}

    class FakeCuDaskKMeans:
        def __init__(self, *, client=None, verbose=False, **kwargs):
            assert set(kwargs) <= {"n_clusters", "max_iter", "tol", "random_state", "init", "n_init",
                                   "oversampling_factor", "max_samples_per_batch"}
            calls["init"] = dict(client=client, **kwargs)

        def fit(self, x, sample_weight=None):
            self._sk = SkKMeans(calls["init"]["n_clusters"], init=np.asarray(calls["init"]["init"]),
                                n_init=1).fit(x.compute())
            self.cluster_centers_, self.n_iter_ = self._sk.cluster_centers_, self._sk.n_iter_
            return self

        def predict(self, x, delayed=True):
            return x.map_blocks(self._sk.predict, drop_axis=1, dtype=np.int32)

        def score(self, x, sample_weight=None):
            return self._sk.score(x.compute())

    fake = types.ModuleType("cuml.dask.cluster")
    fake.KMeans = FakeCuDaskKMeans
    for name, mod in (("cuml", types.ModuleType("cuml")), ("cuml.dask", types.ModuleType("cuml.dask")),
                      ("cuml.dask.cluster", fake)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(dk, "_cupy_partitions", lambda x: True)
    x, _ = make_blobs(3000, 3, centers=4, random_state=2)
    import dask

    with dask.config.set(scheduler="synchronous"):
        km = dk.DaskKMeans(4, client="CLIENT", random_state=5).fit(da.from_array(x, chunks=500))
        labels = km.labels_.compute()
    assert calls["init"]["client"] == "CLIENT" and calls["init"]["n_init"] == 1
    assert not isinstance(calls["init"]["init"], str)
    np.testing.assert_array_equal(labels, SkKMeans(4, random_state=5).fit(x).labels_)
