"""The backend, chosen once at the edge: device, float dtype, Dask client and the estimators that go with them."""
import numpy as np
import pytest

from gpuclust.backend import Backend, host_or_same, namespace, one_hot, resolve_backend
from gpuclust.clustering.api import cluster
from gpuclust.errors import GpuclustError


def test_the_cpu_backend_computes_in_float64_in_this_process():
    b = resolve_backend("cpu")
    assert b.device == "cpu" and b.float_dtype == np.float64 and b.client is None and b.n_workers == 1
    assert not b.cuml and Backend("cuda").float_dtype == np.float32
    with pytest.raises(GpuclustError, match="unknown device"):
        resolve_backend("tpu")


def test_a_dask_backend_brings_its_client_and_estimators_and_closes_them():
    pytest.importorskip("distributed")
    from gpuclust.distributed import DaskGaussianMixture, DaskKMeans, open_backend

    x = np.random.default_rng(0).normal(size=(300, 3)) + np.repeat(np.eye(3) * 6, 100, axis=0)
    with open_backend("cpu", "local", 1) as b:
        assert b.estimators == (DaskGaussianMixture, DaskKMeans) and b.n_workers == 1
        on_dask = cluster(x, "gmm", 3, b, seed=0)
        client = b.client
    assert client.status == "closed"
    one = cluster(x, "gmm", 3, resolve_backend("cpu"), seed=0)
    assert on_dask.metrics["dask_workers"] == 1
    np.testing.assert_array_equal(on_dask.labels, one.labels)


def test_one_hot_and_host_or_same_keep_the_namespace_of_their_input():
    labels = np.array([0, 2, -1])
    oh = one_hot(labels, 3, np.float32)
    assert oh.dtype == np.float32 and oh.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    xp, _ = namespace(labels)
    assert host_or_same(labels, xp) is labels and host_or_same([1, 2], xp).tolist() == [1, 2]
