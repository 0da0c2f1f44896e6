"""Lloyd with its stopping tests read every few iterations returns exactly what lloyd.lloyd returns.

Under array-api-strict and PyTorch on the CPU: the lines that run on CuPy and CUDA tensors.
"""
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from gpuclust.backend import to_numpy
from gpuclust.clustering.gpu_lloyd import lloyd_deferred
from gpuclust.clustering.lloyd import LocalBlocks, lloyd

strict = pytest.importorskip("array_api_strict")
torch = pytest.importorskip("torch")
LIBRARIES = {"array_api_strict": strict.asarray, "torch": torch.asarray}


def both(x, centres, lib, **kw):
    xs = LIBRARIES[lib](x)
    blocks = LocalBlocks(xs, LIBRARIES[lib](np.ones(len(x))))
    c = LIBRARIES[lib](centres)
    every = kw.pop("check_every", 8)
    return lloyd(blocks, c, **kw), lloyd_deferred(blocks, c, check_every=every, **kw)


def assert_same(a, b):
    (la, ia, ca, na), (lb, ib, cb, nb) = a, b
    np.testing.assert_array_equal(to_numpy(la), to_numpy(lb))
    np.testing.assert_array_equal(to_numpy(ca), to_numpy(cb))
    assert ia == ib and na == nb


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("check_every", [1, 3, 8])
@pytest.mark.parametrize("tol", [0.0, 1e-2])
def test_same_labels_centres_and_iterations(lib, check_every, tol):
    x, _ = make_blobs(3000, 6, centers=7, cluster_std=2.5, random_state=0)
    start = x[np.random.default_rng(1).choice(len(x), 7, replace=False)]
    ref, got = both(x, start, lib, max_iter=300, tol=tol, check_every=check_every)
    assert 1 < ref[3] < 300  # stopped by a test, not by max_iter
    assert_same(ref, got)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_an_empty_cluster_is_relocated_as_lloyd_does_it(lib):
    x, _ = make_blobs(2000, 4, centers=5, random_state=2)
    start = np.concatenate([x[:4], np.full((1, 4), 1e3)])  # the far centre gets no point in the first iteration
    ref, got = both(x, start, lib, max_iter=100, tol=0.0, check_every=4)
    assert_same(ref, got)
    assert len(np.unique(to_numpy(got[0]))) == 5


@pytest.mark.parametrize("lib", LIBRARIES)
def test_max_iter_reached_inside_a_batch(lib):
    x, _ = make_blobs(2000, 4, centers=6, cluster_std=3.0, random_state=3)
    ref, got = both(x, x[:6], lib, max_iter=5, tol=0.0, check_every=3)
    assert ref[3] == 5
    assert_same(ref, got)
