"""One code path for every array library: the estimators and metrics under array-api-strict and PyTorch.

array-api-strict refuses everything outside the array API standard, so every line that runs on
CuPy or CUDA tensors runs here too. Results must equal NumPy's and stay in the input's namespace.
"""
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from gpuclust import GaussianMixture, KMeans
from gpuclust.backend import namespace, to_numpy
from gpuclust.clustering.metrics import internal_metrics
from gpuclust.clustering.select_k import sweep

strict = pytest.importorskip("array_api_strict")
torch = pytest.importorskip("torch")

LIBRARIES = {
    "array_api_strict": lambda a: strict.asarray(a),
    "torch": lambda a: torch.asarray(a),
}


@pytest.fixture(scope="module")
def blobs():
    x, _ = make_blobs(2000, 5, centers=6, cluster_std=[1, 2, 0.5, 1.5, 1, 2.5], random_state=0)
    return x


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_mixture_equals_numpy_in_any_namespace(blobs, lib, cov_type, init):
    x = LIBRARIES[lib](blobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(6, covariance_type=cov_type, init_params=init, random_state=3).fit(blobs)
        ours = GaussianMixture(6, covariance_type=cov_type, init_params=init, random_state=3).fit(x)
    xp, _ = namespace(x)
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        assert namespace(getattr(ours, attr))[0] is xp, attr
    assert ours.n_iter_ == ref.n_iter_
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-10)
    labels = ours.predict(x)
    assert namespace(labels)[0] is xp
    assert adjusted_rand_score(to_numpy(labels), ref.predict(blobs)) == 1.0  # same partition (ties may permute)
    np.testing.assert_allclose(np.sort(to_numpy(ours.score_samples(x))), np.sort(ref.score_samples(blobs)),
                               rtol=1e-9)
    proba = ours.predict_proba(x)
    np.testing.assert_allclose(to_numpy(xp.sum(proba, axis=1)), 1.0, rtol=1e-12)
    sample, comp = ours.sample(7)
    assert namespace(sample)[0] is xp and tuple(sample.shape) == (7, 5) and tuple(comp.shape) == (7,)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_float32_tensors_fit_in_float32(blobs, lib):
    x = LIBRARIES[lib](blobs.astype(np.float32))
    g = GaussianMixture(6, random_state=0).fit(x)
    xp, _ = namespace(x)
    assert g.means_.dtype == xp.float32
    ref = GaussianMixture(6, random_state=0).fit(blobs)
    assert adjusted_rand_score(to_numpy(g.predict(x)), ref.predict(blobs)) > 0.99


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_kmeans_equals_scikit_learn_in_any_namespace(blobs, lib, init):
    x = LIBRARIES[lib](blobs)
    for seed in range(3):
        ref = SkKMeans(6, init=init, random_state=seed).fit(blobs)
        ours = KMeans(6, init=init, random_state=seed).fit(x)
        xp, _ = namespace(x)
        assert namespace(ours.cluster_centers_)[0] is xp and namespace(ours.labels_)[0] is xp
        np.testing.assert_array_equal(to_numpy(ours.labels_), ref.labels_)
        np.testing.assert_allclose(to_numpy(ours.cluster_centers_), ref.cluster_centers_, rtol=1e-10)
        assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10) and ours.n_iter_ == ref.n_iter_
        np.testing.assert_allclose(to_numpy(ours.transform(x)), ref.transform(blobs), rtol=1e-8)
        assert ours.score(x) == pytest.approx(ref.score(blobs), rel=1e-10)


def test_a_model_fitted_in_one_namespace_labels_another(blobs):
    """Fitted on the 'GPU' (here strict), used on NumPy: parameters follow the input."""
    g = GaussianMixture(6, random_state=0).fit(strict.asarray(blobs))
    km = KMeans(6, random_state=0).fit(strict.asarray(blobs))
    assert isinstance(g.predict(blobs), np.ndarray) and isinstance(km.predict(blobs), np.ndarray)
    np.testing.assert_array_equal(g.predict(blobs), to_numpy(g.predict(strict.asarray(blobs))))
    np.testing.assert_array_equal(km.predict(blobs), to_numpy(km.labels_))


def test_metrics_equal_numpy_in_any_namespace(blobs):
    labels = SkKMeans(6, random_state=0).fit(blobs).labels_
    ref = internal_metrics(blobs, labels, 6)
    for lib, make in LIBRARIES.items():
        got = internal_metrics(make(blobs), make(labels), 6)
        for key in ("silhouette", "calinski_harabasz", "davies_bouldin"):
            assert got[key] == pytest.approx(ref[key], rel=1e-9), (lib, key)
        assert got["cluster_sizes"] == ref["cluster_sizes"]


def test_select_k_on_torch_equals_numpy(blobs):
    ref = sweep(blobs[:600], range(4, 8), seed=0, n_refs=2)
    res = sweep(torch.asarray(blobs[:600]), range(4, 8), seed=0, n_refs=2)
    assert res["suggestion"] == ref["suggestion"]
    np.testing.assert_allclose([r["bic"] for r in res["rows"]], [r["bic"] for r in ref["rows"]], rtol=1e-9)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_normalisations_equal_numpy_in_any_namespace(lib):
    from gpuclust.data.normalise import NORMALISATIONS, normalise

    rng = np.random.default_rng(4)
    x = rng.random((5, 6, 20)).astype(np.float32)
    x[np.arange(5), :, rng.integers(0, 20, 5)] *= 300  # events anywhere in the window
    x[4] = 0  # an all-zero row stays finite everywhere
    for method in NORMALISATIONS:
        out = normalise(LIBRARIES[lib](x), method)
        assert namespace(out)[0] is namespace(LIBRARIES[lib](x))[0], method
        np.testing.assert_allclose(to_numpy(out), normalise(x, method), rtol=1e-5, atol=1e-5, err_msg=method)
