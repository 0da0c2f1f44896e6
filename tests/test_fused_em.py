"""The fused GPU EM (Triton kernels) gives the array-API path's fit: same lower bounds, same labels.

Without a GPU the kernels run in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set here
before the kernels are first imported); on a GPU the `gpu` test runs the same comparison compiled.
"""
import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

torch = pytest.importorskip("torch")
ON_GPU = torch.cuda.is_available()
if not ON_GPU:  # read when Triton and the kernels are first imported, so set before either
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="Triton is not installed: the fused EM kernels cannot be checked")

from gpuclust import GaussianMixture  # noqa: E402
from gpuclust.bench import synthetic_latents  # noqa: E402
from gpuclust.clustering import fused_em  # noqa: E402

interpreted = pytest.mark.skipif(ON_GPU or os.environ.get("TRITON_INTERPRET") != "1",
                                 reason="a GPU is present: the kernels are compiled there (the gpu test covers them)")


@pytest.fixture
def fused_steps(monkeypatch):
    """The iterations done by the fused kernels: True for each one they did, False where the caller's M-step ran."""
    done = []
    step = fused_em.FusedData.em_step

    def counted(self, *args):
        out = step(self, *args)
        done.append(out is not None)
        return out

    monkeypatch.setattr(fused_em.FusedData, "em_step", counted)
    return done


@pytest.fixture
def fused_on_cpu(monkeypatch, fused_steps):
    """Route CPU tensors through the fused kernels (interpreted)."""
    monkeypatch.setattr(fused_em, "runs_on", lambda x: isinstance(x, torch.Tensor))
    monkeypatch.setitem(fused_em.SETTINGS, "block_n", 256)  # fewer, larger blocks: the interpreter is slow
    return fused_steps


def fit_pair(x, dtype, iters, **kw):
    """(array-API fit on NumPy, fused fit on a torch tensor) of the same data from the same start."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(8, random_state=0, max_iter=iters, **kw).fit(x.astype(dtype))
        got = GaussianMixture(8, random_state=0, max_iter=iters, **kw).fit(torch.asarray(x.astype(dtype)))
    return ref, got


@interpreted
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_fit_equals_the_array_api_fit(fused_on_cpu, dtype):
    x = synthetic_latents(2000, 12, 8, seed=1)
    ref, got = fit_pair(x, dtype, iters=5, tol=0.0)
    assert fused_on_cpu == [True] * 5  # every iteration ran in the kernels
    assert isinstance(got.means_, torch.Tensor) and got.means_.dtype == getattr(torch, np.dtype(dtype).name)
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=1e-5)
    np.testing.assert_array_equal(got.predict(torch.asarray(x.astype(dtype))).numpy(), ref.predict(x.astype(dtype)))
    tight = 1e-9 if dtype == np.float64 else 2e-4
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(got, attr).numpy(), getattr(ref, attr), rtol=tight, atol=tight, err_msg=attr)


@interpreted
@pytest.mark.parametrize("cov_type", ["tied", "diag", "spherical"])
def test_other_covariance_types_take_the_fused_statistics_and_the_array_api_m_step(fused_on_cpu, cov_type):
    x = synthetic_latents(1000, 12, 8, seed=2)
    ref, got = fit_pair(x, np.float64, iters=3, tol=0.0, covariance_type=cov_type)
    assert fused_on_cpu == [False] * 3  # no fused M-step for these types: the caller's own
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=1e-10)
    np.testing.assert_array_equal(got.predict(torch.asarray(x)).numpy(), ref.predict(x))


@interpreted
def test_an_ill_defined_covariance_gets_scikit_learns_error(fused_on_cpu):
    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros((40, 12)), np.ones((40, 12)), rng.normal(0.5, 1.0, (80, 12))])
    start = dict(weights_init=np.full(3, 1 / 3), means_init=np.stack([np.zeros(12), np.ones(12), np.full(12, 0.5)]),
                 precisions_init=np.stack([np.eye(12) * 100, np.eye(12) * 100, np.eye(12)]))
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(3, reg_covar=0.0, **start).fit(x)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(3, reg_covar=0.0, **start).fit(torch.asarray(x))
    assert fused_on_cpu == [False]  # flagged by the kernel, then the array-API M-step raised


@pytest.mark.gpu
@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_fit_on_the_gpu_equals_the_array_api_fit(fused_steps, dtype):
    import cupy

    x = synthetic_latents(50_000, 12, 8, seed=1).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # one start for all (a float32 K-means start on the GPU may differ from the CPU's), and a fixed number
        # of iterations (no tie on the stopping rule)
        s = GaussianMixture(8, random_state=0, max_iter=2).fit(x.astype(np.float64))
        fit = dict(tol=0.0, max_iter=30, weights_init=s.weights_, means_init=s.means_, precisions_init=s.precisions_)
        ref = GaussianMixture(8, **fit).fit(x)
        assert fused_em.runs_on(torch.asarray(x, device="cuda"))
        for make in (lambda a: torch.asarray(a, device="cuda"), cupy.asarray):
            got = GaussianMixture(8, **fit).fit(make(x))
            np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=1e-5)
            labels = got.predict(make(x))
            labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else cupy.asnumpy(labels)
            np.testing.assert_array_equal(labels, ref.predict(x))
    assert fused_steps and all(fused_steps)  # compiled and run, not fallen back to the array-API path


@interpreted
def test_a_kernel_that_cannot_run_leaves_the_array_api_fit_with_a_warning(fused_on_cpu, monkeypatch):
    def broken(self):
        raise RuntimeError("no such instruction")

    monkeypatch.setattr(fused_em.FusedData, "_estep", broken)
    x = synthetic_latents(500, 12, 8, seed=3)
    with pytest.warns(RuntimeWarning, match="fused EM unavailable"):
        ref, got = fit_pair(x, np.float64, iters=3, tol=0.0)
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
    assert not any(fused_on_cpu)
