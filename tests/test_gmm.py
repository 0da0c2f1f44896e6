"""The Gaussian mixture against scikit-learn, its errors, and its degenerate cases."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_blobs
from sklearn.mixture import GaussianMixture as SkGM

from gpuclust import GaussianMixture
from gpuclust.clustering import em
from gpuclust.errors import GpuclustError


def shared_init(x, k, cov_type, seed=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = SkGM(k, covariance_type=cov_type, random_state=seed, max_iter=1).fit(x)
    return dict(weights_init=s.weights_, means_init=s.means_, precisions_init=s.precisions_)


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("data", ["iris", "blobs"])
def test_same_lower_bound_and_labels_as_sklearn(cov_type, data):
    if data == "iris":
        x, k = load_iris().data, 3
    else:
        x, _ = make_blobs(2000, 6, centers=5, cluster_std=[1, 2, 0.5, 1.5, 1], random_state=4)
        k = 5
    init = shared_init(x, k, cov_type)
    ref = SkGM(k, covariance_type=cov_type, tol=1e-8, max_iter=300, **init).fit(x)
    ours = GaussianMixture(k, covariance_type=cov_type, tol=1e-8, max_iter=300, chunk_size=257, **init).fit(x)
    assert abs(ours.lower_bound_ - ref.lower_bound_) / abs(ref.lower_bound_) < 1e-5
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.precisions_cholesky_, ref.precisions_cholesky_, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours.bic(x), ref.bic(x), rtol=1e-8)
    np.testing.assert_allclose(ours.aic(x), ref.aic(x), rtol=1e-8)
    np.testing.assert_allclose(ours.score_samples(x), ref.score_samples(x), rtol=1e-8)
    assert ours.n_iter_ == ref.n_iter_ and ours.converged_


def test_recovers_separated_mixture_and_float32():
    x, y = make_blobs(5000, 9, centers=8, random_state=0)
    g = GaussianMixture(8, random_state=0, n_init=2).fit(x.astype(np.float32))
    assert g.means_.dtype == np.float64  # CPU default: float64
    g32 = GaussianMixture(8, random_state=0, dtype=np.float32).fit(x)
    assert g32.means_.dtype == np.float32
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, g.predict(x)) > 0.99
    assert adjusted_rand_score(y, g32.predict(x)) > 0.99


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random"])
def test_every_initialisation_fits(init):
    x, _ = make_blobs(600, 3, centers=3, random_state=2)
    g = GaussianMixture(3, init_params=init, random_state=0, max_iter=500).fit(x)
    assert g.converged_ and np.isfinite(g.lower_bound_)
    assert g.fit_predict(x).shape == (600,)


def test_reproducible_with_seed_and_warm_start():
    x, _ = make_blobs(800, 4, centers=4, random_state=1)
    a = GaussianMixture(4, random_state=3).fit(x)
    b = GaussianMixture(4, random_state=3).fit(x)
    assert a.lower_bound_ == b.lower_bound_
    w = GaussianMixture(4, random_state=3, warm_start=True, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w.fit(x)
        first = w.lower_bound_
        w.fit(x)
    assert w.lower_bound_ >= first - 1e-12


@pytest.mark.parametrize("x, k, message", [
    (np.zeros((5, 2)), 6, "K = 6 clusters asked for, but input has only 5 samples"),
    (np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]), 2, "NaN or inf.*row 1"),
    (np.zeros((4, 0)), 2, "0 features"),
    (np.zeros(4), 2, "must be 2-D"),
])
def test_bad_input_errors(x, k, message):
    with pytest.raises(GpuclustError, match=message):
        GaussianMixture(k).fit(x)


def test_predict_before_fit_and_wrong_width():
    with pytest.raises(GpuclustError, match="not fitted"):
        GaussianMixture(2).predict(np.zeros((3, 2)))
    g = GaussianMixture(2, random_state=0).fit(np.random.default_rng(0).standard_normal((50, 3)))
    with pytest.raises(GpuclustError, match="3"):
        g.predict(np.zeros((3, 4)))


def test_degenerate_component_does_not_crash():
    """Duplicated points and more components than distinct clusters: regularised, finite, warned at most."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.repeat([[5.0, 5.0]], 40, axis=0), rng.standard_normal((200, 2))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = GaussianMixture(6, random_state=0, reg_covar=1e-4, max_iter=200).fit(x)
    assert np.isfinite(g.lower_bound_) and np.isfinite(g.covariances_).all()
    assert np.isclose(g.weights_.sum(), 1)


def test_empty_component_is_reseeded_with_a_warning():
    x, _ = make_blobs(300, 2, centers=2, random_state=0)
    far = np.array([[1e3, 1e3], [1e3 + 1, 1e3]])  # a component whose mean is far from every point
    means = np.concatenate([x[:1], x[-1:], far[:1]])
    with pytest.warns(UserWarning, match="re-seeded"):
        g = GaussianMixture(3, means_init=means, random_state=0, max_iter=50).fit(x)
    assert np.isfinite(g.lower_bound_)


def test_ill_defined_covariance_message():
    with pytest.raises(GpuclustError, match="ill-defined covariance.*reg_covar"):
        em.precision_cholesky(np.array([[[1.0, 2.0], [2.0, 1.0]]]))


def test_chunked_statistics_combine_to_the_whole():
    """Sums over any split of the samples equal the whole: what the Dask fit relies on."""
    x, _ = make_blobs(1000, 4, centers=3, random_state=5)
    g = GaussianMixture(3, random_state=0).fit(x)
    p = g._params
    xc = x - g._shift
    whole = em.chunk_stats(em.design(xc), p)
    parts = em.combine(em.chunk_stats(em.design(xc[i:i + 97]), p) for i in range(0, 1000, 97))
    np.testing.assert_allclose(parts.nk, whole.nk)
    np.testing.assert_allclose(parts.s2, whole.s2)
    assert parts.n == 1000 and np.isclose(parts.loglik, whole.loglik)
