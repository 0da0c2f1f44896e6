"""Dask scale-out on a LocalCluster of processes: same answers as one process, and a killed worker survived."""
import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGM

from gpuclust import GaussianMixture, KMeans
from gpuclust.distributed import DaskGaussianMixture, DaskKMeans, connect
from gpuclust.distributed import blocks as dblocks
from gpuclust.errors import GpuclustError

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    c = connect("local", 2)
    yield c
    c.close()
    c.cluster.close()


@pytest.fixture(scope="module")
def data():
    import warnings

    x, _ = make_blobs(12000, 4, centers=5, cluster_std=[1.0, 2.5, 1.5, 3.0, 2.0], random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration is all we want: the shared starting point
        s = SkGM(5, random_state=0, max_iter=1).fit(x)
    return x, dict(weights_init=s.weights_, means_init=s.means_, precisions_init=s.precisions_)


def test_distributed_mixture_equals_single_process(client, data):
    x, init = data
    one = GaussianMixture(5, tol=1e-10, max_iter=60, **init).fit(x)
    dist = DaskGaussianMixture(5, tol=1e-10, max_iter=60, **init).fit(da.from_array(x, chunks=1000))
    assert dist.n_iter_ == one.n_iter_ > 5
    assert abs(dist.lower_bound_ - one.lower_bound_) < 1e-10 * abs(one.lower_bound_)
    np.testing.assert_allclose(dist.means_, one.means_, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(dist.covariances_, one.covariances_, rtol=1e-7, atol=1e-9)
    labels = dist.predict(da.from_array(x, chunks=1000)).compute()
    np.testing.assert_array_equal(labels, one.predict(x))


def test_distributed_kmeans_equals_scikit_learn_lloyd(client, data):
    x, init = data
    sk = SkKMeans(5, init=init["means_init"], n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").fit(x)
    dk = DaskKMeans(5, init=init["means_init"], max_iter=300, tol=1e-4).fit(da.from_array(x, chunks=1000))
    np.testing.assert_allclose(dk.cluster_centers_, sk.cluster_centers_, rtol=1e-6, atol=1e-6)
    assert dk.inertia_ == pytest.approx(sk.inertia_, rel=1e-9)
    np.testing.assert_array_equal(dk.predict(da.from_array(x, chunks=1000)).compute(), sk.labels_)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_same_seed_gives_the_same_start_on_dask(client, data, seed):
    """Regression: --dask changed the K-means result (another initialisation than one process)."""
    x, _ = data
    one = KMeans(5, random_state=seed).fit(x)  # NumPy: scikit-learn itself
    dist = DaskKMeans(5, random_state=seed).fit(da.from_array(x, chunks=1500))
    np.testing.assert_array_equal(dist.labels_.compute(), one.labels_)
    assert dist.n_iter_ == one.n_iter_
    g1 = GaussianMixture(5, random_state=seed).fit(x)
    g2 = DaskGaussianMixture(5, random_state=seed).fit(da.from_array(x, chunks=1500))
    assert g2.n_iter_ == g1.n_iter_ and g2.lower_bound_ == pytest.approx(g1.lower_bound_, rel=1e-10)


def test_cluster_command_gives_the_same_labels_with_and_without_dask(tmp_path, monkeypatch):
    """The issue's case: 60,000 well-separated 9-d latents, K-means, K = 6: identical labels either way, and
    from workers that cannot see the file (its latents then sent from here, said in a line)."""
    import csv

    from click.testing import CliRunner

    from gpuclust.distributed import read
    from gpuclust_cli.commands import cli

    x, _ = make_blobs(60000, 9, centers=6, random_state=3)
    np.save(tmp_path / "lat.npy", x)
    out = {}
    dask = ["--dask", "local", "--dask-workers", "2"]
    for name, extra in (("one", []), ("dask", dask), ("unseen", dask)):
        if name == "unseen":
            monkeypatch.setattr(read, "workers_see", lambda client, path: False)
        r = CliRunner().invoke(cli, ["cluster", str(tmp_path / "lat.npy"), "--method", "kmeans", "-k", "6",
                                     "-o", str(tmp_path / name), *extra])
        assert r.exit_code == 0, r.output
        assert ("do not see" in r.output) == (name == "unseen")
        with open(tmp_path / name / "labels.csv") as fh:
            out[name] = [int(row["cluster"]) for row in csv.DictReader(fh)]
    assert out["one"] == out["dask"] == out["unseen"]


def test_workers_see_a_path_only_where_it_exists_for_them(client, tmp_path):
    from gpuclust.distributed.read import workers_see

    (tmp_path / "here.npy").write_bytes(b"")
    assert workers_see(client, str(tmp_path / "here.npy")) and not workers_see(client, str(tmp_path / "gone.npy"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # the 1-iteration start
def test_a_design_too_large_to_cache_is_built_chunk_by_chunk_on_the_workers(client, data, monkeypatch):
    """Beyond DESIGN_CACHE_BYTES the workers hold the samples only and build each chunk's design in the task:
    the same statistics and the same fit as one process (here every partition of 1,500 rows in chunks of 700)."""
    from gpuclust.clustering import em
    from gpuclust.clustering.local_data import LocalData

    x, init = data
    monkeypatch.setattr(dblocks, "DESIGN_CACHE_BYTES", 0)
    monkeypatch.setattr(dblocks, "default_chunk", lambda xp: 700)
    shift = x.mean(axis=0)
    streamed = dblocks.DaskData(da.from_array(x, chunks=1500), shift)
    assert streamed.chunk == 700 and streamed.blocks.shape == x.shape  # samples, not their 15-wide design
    p = GaussianMixture(5, max_iter=1, **init).fit(x)._params
    got, want = streamed.stats(p), LocalData(x, shift, 32768).stats(p)
    for a, b in zip((got.nk, got.s1, got.s2, got.loglik), (want.nk, want.s1, want.s2, want.loglik)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert isinstance(got, em.Stats) and got.n == len(x)
    one = GaussianMixture(5, **init).fit(x)
    dist = DaskGaussianMixture(5, **init).fit(da.from_array(x, chunks=1500))
    assert dist.n_iter_ == one.n_iter_ and dist.lower_bound_ == pytest.approx(one.lower_bound_, rel=1e-10)
    np.testing.assert_array_equal(dist.predict(x), one.predict(x))


@pytest.mark.parametrize("suffix", [".npy", ".h5"])
def test_workers_read_their_own_rows_of_a_latent_file(tmp_path, suffix):
    """load_latents(n_workers=...) reads the header here and puts no latent into the task graph."""
    import pickle

    from gpuclust.latents import Latents, load_latents, save_latents

    x = np.random.default_rng(0).normal(size=(20000, 12)).astype(np.float32)  # 960 KB
    path = tmp_path / f"lat{suffix}"
    np.save(path, x) if suffix == ".npy" else save_latents(path, Latents(x, np.arange(len(x)) + 5))
    lat = load_latents(path, n_workers=2)
    assert isinstance(lat.z, da.Array) and lat.z.shape == x.shape and lat.z.numblocks[0] == 8
    assert len(pickle.dumps(dict(lat.z.__dask_graph__()))) < 20_000  # the graph names rows, never holds them
    np.testing.assert_array_equal(lat.z.compute(scheduler="sync"), load_latents(path).z)
    assert lat.rows[0] == (0 if suffix == ".npy" else 5)


def test_killed_worker_mid_fit_gives_the_same_result(client, data, monkeypatch):
    x, init = data
    dx = da.from_array(x, chunks=1000)
    reference = DaskGaussianMixture(5, tol=0, max_iter=12, **init)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        reference.fit(dx)
    calls = {"n": 0}
    real = dblocks.map_reduce

    def kill_on_third_iteration(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            nanny = next(iter(client.cluster.workers.values()))
            nanny.process.process.kill()  # the worker process dies with its partitions
        return real(*args, **kw)

    monkeypatch.setattr(dblocks, "map_reduce", kill_on_third_iteration)
    survived = DaskGaussianMixture(5, tol=0, max_iter=12, **init)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        survived.fit(dx)
    assert calls["n"] == 12
    assert survived.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(survived.means_, reference.means_, rtol=1e-10)


def test_distributed_input_errors(client):
    with pytest.raises(GpuclustError, match="only 3 samples"):
        DaskGaussianMixture(5).fit(da.zeros((3, 2), chunks=2))
    bad = np.ones((20, 2))
    bad[7, 1] = np.nan
    with pytest.raises(GpuclustError, match="1 row"):
        DaskGaussianMixture(2).fit(da.from_array(bad, chunks=5))
    with pytest.raises(GpuclustError, match="dask.array"):
        DaskGaussianMixture(2).fit(bad)


def test_connect_errors():
    with pytest.raises(GpuclustError, match="unknown --dask"):
        connect("everywhere")
    with pytest.raises(GpuclustError, match="no such scheduler file"):
        connect("/no/such/scheduler.json")
    with pytest.raises(GpuclustError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        connect("tcp://127.0.0.1:9")
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        with pytest.raises(GpuclustError, match="needs dask-cuda"):
            connect("local-cuda")


@pytest.fixture(scope="module")
def scheduler():
    """A running scheduler reached by address, as a cluster's is from a login node (two in-process workers)."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                           dashboard_address=":0")
    yield cluster.scheduler_address
    cluster.close()


def _stand_in_encoder(data_spec, checkpoint, rows, norm, device, host, errors=False):
    """_encode_slice's stand-in: latents that say which device the worker was told to encode on (errors: each
    row's number as its reconstruction error)."""
    value = 1.0 if device == "cuda" else 0.0
    assert host  # no GPU on this machine: the partitions must come as NumPy
    z = np.full((len(rows), 3), value, np.float32)
    return (z, np.asarray(rows, np.float32)) if errors else z


def test_workers_encode_on_their_own_gpus_when_this_machine_has_none(scheduler, monkeypatch):
    """Regression: from a CPU-only login node, GPU workers were told to encode on the client's CPU."""
    from gpuclust.backend import Backend
    from gpuclust.distributed import client as dclient
    from gpuclust.distributed import encode as dencode

    monkeypatch.setattr(dclient, "resolve_backend", lambda device: Backend("cpu"))  # this machine: no GPU
    monkeypatch.setattr(dclient, "worker_probe", lambda: "cuda")  # each worker: one
    monkeypatch.setattr(dencode, "_encode_slice", _stand_in_encoder)
    with dclient.open_backend("auto", scheduler) as b:
        assert (b.device, b.worker_device, b.latent_device, b.latent_dtype) == ("cpu", "cuda", "cpu", np.float64)
        z, _ = dencode.encode_distributed({}, "encoder.pt", np.arange(40), "none", 3, b, block_rows=16)
        got = z.compute()
    assert isinstance(got, np.ndarray) and got.shape == (40, 3) and (got == 1.0).all()  # told cuda, came as NumPy


def test_cpu_workers_of_a_gpu_client_encode_on_their_cpus_without_cupy_here(scheduler, monkeypatch):
    from gpuclust.backend import Backend
    from gpuclust.distributed import client as dclient
    from gpuclust.distributed import encode as dencode

    monkeypatch.setattr(dclient, "resolve_backend", lambda device: Backend("cuda"))
    monkeypatch.setattr(dclient, "worker_probe", lambda: "cpu")
    monkeypatch.setattr(dencode, "_encode_slice", _stand_in_encoder)
    with dclient.open_backend("auto", scheduler) as b:
        assert (b.worker_device, b.latent_device, b.latent_dtype) == ("cpu", "cpu", np.float64)
        got = dencode.encode_distributed({}, "encoder.pt", np.arange(20), "none", 3, b)[0].compute()  # NumPy meta
        z, err = dencode.encode_distributed({}, "encoder.pt", np.arange(40)[::-1], "none", 3, b, block_rows=16,
                                            errors=True)  # both from one task a block, rows sorted
        z = z.compute()
    assert (got == 0.0).all() and z.shape == (40, 3) and (err == np.arange(40)).all()


def test_the_workers_device_is_refused_where_it_cannot_serve(scheduler, monkeypatch):
    from gpuclust.backend import Backend
    from gpuclust.distributed import client as dclient

    monkeypatch.setattr(dclient, "resolve_backend", lambda device: Backend("cuda" if device == "cuda" else "cpu"))
    # client.run hands a function its worker where it takes `dask_worker`: one of the two has a GPU
    monkeypatch.setattr(dclient, "worker_probe", lambda dask_worker: "cuda" if dask_worker.name == 0 else "cpu")
    with pytest.raises(GpuclustError, match="the Dask workers differ: 1 of 2 have a working CUDA GPU"):
        with dclient.open_backend("auto", scheduler):
            pass
    monkeypatch.setattr(dclient, "worker_probe", lambda: "cpu")
    with pytest.raises(GpuclustError, match="--device cuda asked for, but the Dask workers have no"):
        with dclient.open_backend("cuda", scheduler):
            pass

    def never():
        raise AssertionError("--device cpu needs no probe")

    monkeypatch.setattr(dclient, "worker_probe", never)
    with dclient.open_backend("cpu", scheduler) as b:
        assert b.worker_device == "cpu" and b.latent_device == "cpu"


def test_metrics_on_dask_are_those_of_the_rows_without_bringing_them_here(client, data):
    """On Dask the indices come from K-sized sums and the silhouette's sample: the same numbers as on the rows."""
    from sklearn.cluster import KMeans as Sk

    from gpuclust.clustering.metrics import internal_metrics, internal_metrics_of_partitions

    x, _ = data
    labels = Sk(5, n_init=1, random_state=0).fit_predict(x)
    one = internal_metrics(x, labels, 5)
    dist = internal_metrics_of_partitions(da.from_array(x, chunks=1000), labels, 5)
    for key in ("silhouette", "silhouette_per_cluster", "silhouette_sample_size", "cluster_sizes"):
        assert dist[key] == one[key]  # the same sampled rows, computed alike
    for key in ("calinski_harabasz", "davies_bouldin", "mean_distance_to_centre"):
        np.testing.assert_allclose(dist[key], one[key], rtol=1e-12)  # sums in another order


@pytest.mark.parametrize("method", ["gmm", "kmeans"])
def test_scores_and_criteria_on_dask_are_those_of_the_rows(client, data, method):
    from gpuclust.backend import Backend
    from gpuclust.clustering import novelty
    from gpuclust.clustering.api import cluster

    x, _ = data
    b = Backend("cpu", client=client, worker_device="cpu", estimators=(DaskGaussianMixture, DaskKMeans))
    res = cluster(x, method, 5, b, seed=0)
    rows = x / res.metrics["latent_scale"]
    np.testing.assert_allclose(res.scores, novelty.scores(res.model, rows), rtol=1e-12)
    if method == "gmm":
        assert res.metrics["bic"] == pytest.approx(res.model.bic(rows), rel=1e-12)
        assert res.metrics["aic"] == pytest.approx(res.model.aic(rows), rel=1e-12)


def test_probabilities_left_on_the_workers_are_written_a_block_at_a_time(client, data, tmp_path, monkeypatch):
    """cluster(probs_on_workers=True): a persisted Dask array of probabilities, the same labels.csv as gathered."""
    from gpuclust.backend import Backend
    from gpuclust.clustering import api

    x, _ = data
    b = Backend("cpu", client=client, worker_device="cpu", estimators=(DaskGaussianMixture, DaskKMeans))
    here = api.cluster(x, "gmm", 5, b, seed=0)
    there = api.cluster(x, "gmm", 5, b, seed=0, probs_on_workers=True)
    assert isinstance(there.probs, da.Array) and isinstance(here.probs, np.ndarray)
    np.testing.assert_array_equal(there.labels, here.labels)
    monkeypatch.setattr(api, "LABEL_BLOCK_ROWS", 1000)  # 12 blocks, across the 1,500-row partitions
    for name, res in (("here", here), ("there", there)):
        api.write_labels(tmp_path / f"{name}.csv", np.arange(len(x)), res.labels, res.probs, scores=res.scores,
                         unknown=np.zeros(len(x), bool))
    assert (tmp_path / "here.csv").read_text() == (tmp_path / "there.csv").read_text()
    import csv

    with open(tmp_path / "there.csv") as fh:
        written = np.array([[float(r[f"p{j}"]) for j in range(5)] for r in csv.DictReader(fh)])
    np.testing.assert_allclose(written, here.probs, atol=5e-5)  # every row's own probabilities, in row order
