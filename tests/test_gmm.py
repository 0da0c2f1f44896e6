"""gpuclust.GaussianMixture is scikit-learn's estimator: same start, same fit, same surface, same errors."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGM

from gpuclust import GaussianMixture, GpuclustError
from gpuclust.clustering import em
from gpuclust.clustering.local_data import LocalData


def quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_gives_scikit_learns_fit(cov_type, init):
    """Swap the class in and nothing changes: the same start is drawn, the same EM runs."""
    x, _ = make_blobs(1500, 4, centers=5, cluster_std=[1, 2, 0.5, 1.5, 1], random_state=0)
    ref = quiet(lambda: SkGM(5, covariance_type=cov_type, init_params=init, random_state=1, n_init=2).fit(x))
    ours = quiet(lambda: GaussianMixture(5, covariance_type=cov_type, init_params=init, random_state=1,
                                         n_init=2, chunk_size=333).fit(x))
    assert ours.n_iter_ == ref.n_iter_ and ours.converged_ == ref.converged_
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-12)
    # (the first bound of a k-means++ or random_from_data start, around -1e7, agrees to 1e-8 only)
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-7)
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))
    for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr), rtol=1e-7, atol=1e-10, err_msg=attr)
    np.testing.assert_allclose(ours.score_samples(x), ref.score_samples(x), rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x), atol=1e-10)
    assert ours.bic(x) == pytest.approx(ref.bic(x), rel=1e-10) and ours.aic(x) == pytest.approx(ref.aic(x))


def test_iris_and_sampling_as_scikit_learn():
    x = load_iris().data
    ref, ours = SkGM(3, random_state=0).fit(x), GaussianMixture(3, random_state=0).fit(x)
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))
    xs, ys = ours.sample(50)
    xr, yr = ref.sample(50)
    np.testing.assert_allclose(xs, xr, rtol=1e-8)
    np.testing.assert_array_equal(ys, yr)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        ours.sample(0)


def test_covariances_come_from_the_best_of_several_starts():
    """Regression: with n_init > 1 covariances_ came from the last start, the rest from the best."""
    x, _ = make_blobs(600, 2, centers=3, random_state=0)
    g = GaussianMixture(3, n_init=5, random_state=0).fit(x)
    np.testing.assert_allclose(g.covariances_, np.linalg.inv(g.precisions_), rtol=1e-8, atol=1e-10)
    ref = SkGM(3, n_init=5, random_state=0).fit(x)
    np.testing.assert_allclose(g.covariances_, ref.covariances_, rtol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_outlier_gets_its_own_component_and_the_fit_converges(seed):
    """Regression: a component holding one far point was re-seeded every iteration and never converged."""
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.standard_normal((399, 2)), [[60.0, 60.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        g = GaussianMixture(3, random_state=seed).fit(x)
    ref = SkGM(3, random_state=seed).fit(x)
    assert g.converged_ and g.n_iter_ == ref.n_iter_ < 100
    assert g.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-8)
    assert (g.predict(x) == g.predict(x[-1:])[0]).sum() == 1  # the outlier alone in its component


def test_warm_start_continues_from_the_fitted_parameters_on_shifted_data():
    """Regression: warm-started parameters were relative to the previous data's mean."""
    x, _ = make_blobs(800, 3, centers=3, random_state=4)
    shifted = x + 3.0
    ours = GaussianMixture(3, warm_start=True, max_iter=1, random_state=0)
    ref = SkGM(3, warm_start=True, max_iter=1, random_state=0)
    quiet(lambda: ours.fit(x))
    quiet(lambda: ref.fit(x))
    quiet(lambda: ours.fit(shifted))
    quiet(lambda: ref.fit(shifted))
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-9)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-9)


def test_warm_start_detects_convergence_with_one_iteration_per_fit():
    """scikit-learn's test_convergence_detected_with_warm_start: the previous bound carries over."""
    x, _ = make_blobs(500, 2, centers=2, random_state=0)
    g = GaussianMixture(2, warm_start=True, max_iter=1, random_state=0)
    for _ in range(100):
        quiet(lambda: g.fit(x))
        if g.converged_:
            break
    assert g.converged_ and g.n_iter_ <= 1


def test_non_convergence_is_a_convergence_warning():
    x, _ = make_blobs(500, 2, centers=4, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(4, max_iter=1, random_state=0).fit(x)


def test_errors_are_scikit_learns():
    x, _ = make_blobs(50, 3, centers=2, random_state=0)
    with pytest.raises(NotFittedError):
        GaussianMixture(2).predict(x)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(60).fit(x)
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(np.vstack([x, [[np.nan, 0, 0]]]))
    g = GaussianMixture(2, random_state=0).fit(x)
    with pytest.raises(ValueError, match="X has 4 features, but GaussianMixture is expecting 3"):
        g.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(2, covariance_type="round").fit(x)
    assert issubclass(GpuclustError, ValueError)


@pytest.mark.parametrize("precisions, message", [
    (np.ones((3, 3, 3)), "should have the shape of"),
    (np.array([[[1.0, 2.0, 0], [0, 1, 0], [0, 0, 1]]] * 2), "symmetric, positive-definite"),
    (np.array([-np.eye(3)] * 2), "symmetric, positive-definite"),
])
def test_precisions_init_is_validated(precisions, message):
    x, _ = make_blobs(60, 3, centers=2, random_state=0)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, precisions_init=precisions).fit(x)


def test_reordered_dataframe_columns_are_refused():
    """Regression: predicting on a DataFrame with its columns reordered silently relabelled rows."""
    pd = pytest.importorskip("pandas")
    x, _ = make_blobs(300, 3, centers=3, random_state=0)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    g = GaussianMixture(3, random_state=0).fit(df)
    np.testing.assert_array_equal(g.predict(df), g.predict(x))
    with pytest.raises(ValueError, match="feature names"):
        g.predict(df[["c", "a", "b"]])


def test_works_in_pipelines_grid_search_and_clone():
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, _ = make_blobs(400, 3, centers=3, random_state=0)
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(x)
    assert pipe.predict(x).shape == (400,) and np.isfinite(pipe.score(x))
    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [2, 3, 4]}, cv=3).fit(x)
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.1  # three blobs: three components explain held-out data better than two
    best = search.best_params_["n_components"]
    np.testing.assert_array_equal(search.best_estimator_.predict(x), GaussianMixture(best, random_state=0).fit(x).predict(x))
    c = clone(GaussianMixture(5, covariance_type="diag", chunk_size=100))
    assert c.get_params()["covariance_type"] == "diag" and c.set_params(n_components=2).n_components == 2


def test_float32_collapsed_component_is_resolved_in_float64():
    """In float32 the moments of a one-sample component can cancel below reg_covar; scikit-learn's
    two-pass estimate cannot. gpuclust then redoes that M-step in float64 instead of failing."""
    rng = np.random.RandomState(0)
    x = (rng.rand(200, 2) * 50).astype(np.float32)
    ref = SkGM(2, init_params="random_from_data", random_state=0).fit(x)
    ours = GaussianMixture(2, init_params="random_from_data", random_state=0).fit(x)
    assert ours.means_.dtype == np.float32
    assert adjusted_rand_score(ref.predict(x), ours.predict(x)) > 0.99


def test_statistics_of_any_split_add_up_to_the_whole():
    """What the chunked and the Dask fits rely on."""
    x, _ = make_blobs(1000, 4, centers=3, random_state=5)
    g = GaussianMixture(3, random_state=0).fit(x)
    shift = x.mean(axis=0)
    whole, parts = LocalData(x, shift, 1000), LocalData(x, shift, 97)
    p = em.Params(g.weights_, g.means_ - shift, g.covariances_, g.precisions_cholesky_, "full")
    a, b = whole.stats(p), parts.stats(p)
    np.testing.assert_allclose(b.nk, a.nk)
    np.testing.assert_allclose(b.s2, a.s2)
    assert b.n == 1000 and float(b.loglik) == pytest.approx(float(a.loglik))


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_a_mixture_rebuilt_with_its_centring_scores_bit_for_bit_as_the_fitted_one(cov_type):
    """A run's saved model must score the run's own rows exactly as the run did (predict = run on the same file):
    the fit centres the data on a shift, and a mixture rebuilt from the means alone differs by rounding."""
    X, _ = make_blobs(2000, n_features=5, centers=4, random_state=3)
    X = X + 40.0  # far from the origin: the centring shift matters
    g = GaussianMixture(4, covariance_type=cov_type, random_state=0).fit(X)
    params = (g.weights_, g.means_, g.covariances_, g.precisions_cholesky_)
    exact = GaussianMixture.from_parameters(*params, cov_type, g.centring())
    plain = GaussianMixture.from_parameters(*params, cov_type)
    assert np.array_equal(exact.score_samples(X), g.score_samples(X))
    assert np.array_equal(exact.predict_proba(X), g.predict_proba(X))
    assert np.allclose(plain.score_samples(X), g.score_samples(X), rtol=1e-9)
    assert not np.array_equal(plain.score_samples(X), g.score_samples(X))  # why the centring is saved
