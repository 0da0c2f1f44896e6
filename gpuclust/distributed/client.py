"""Connecting to Dask, chosen once at the edge: a LocalCluster, a LocalCUDACluster, or a running scheduler."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import replace

from ..backend import Backend, device_here, gpu_available, resolve_backend
from ..errors import GpuclustError

SPEC_HELP = "use local, local-cuda, tcp://HOST:PORT, or a scheduler file (.json)"


def connect(spec: str | None, n_workers: int | None = None):
    """A distributed.Client for `spec`, or None for no Dask (one process)."""
    if spec is None:
        return None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise GpuclustError("Dask's distributed package is not installed: pip install 'dask[distributed]'")
    if spec == "local":
        cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        return Client(cluster)
    if spec == "local-cuda":
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise GpuclustError("--dask local-cuda needs dask-cuda: pip install 'gpuclust[gpu-cu12]' "
                                "(or gpu-cu13), which pins dask-cuda to its RAPIDS release")
        if not gpu_available():
            raise GpuclustError("--dask local-cuda found no CUDA GPU; use --dask local on a CPU machine")
        return Client(LocalCUDACluster(dashboard_address=":0"))
    if "://" in spec:
        try:
            return Client(spec, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise GpuclustError(f"cannot reach the Dask scheduler at {spec} ({type(e).__name__}); start it with "
                                "`dask scheduler` and workers with `dask worker` or `dask cuda worker`")
    if spec.endswith(".json"):
        if not os.path.exists(spec):
            raise GpuclustError(f"{spec}: no such scheduler file (written by `dask scheduler --scheduler-file`)")
        try:
            return Client(scheduler_file=spec, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise GpuclustError(f"cannot reach the Dask scheduler named in {spec} ({type(e).__name__})")
    raise GpuclustError(f"unknown --dask {spec!r}: {SPEC_HELP}")


def disconnect(client) -> None:
    """Close a client, and the local cluster it started (a remote scheduler is left running)."""
    if client is None:
        return
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def workers_device(client, device: str, here: str) -> str:
    """The device the Dask workers encode on, asked of each worker once (device_here, run on every worker).

    The workers' own answer, not this machine's: a login node without a GPU drives GPU workers. --device
    cpu keeps them on the CPU; --device cuda insists on GPUs. Workers that differ are refused (their
    partitions would be of two kinds); with no worker connected yet, this machine's device stands in.
    """
    if device == "cpu":
        return "cpu"
    try:
        found = client.run(worker_probe)
    except Exception as e:  # a worker that cannot unpickle gpuclust's function cannot encode either
        raise GpuclustError(f"the Dask workers could not run gpuclust ({type(e).__name__}: {e}); install "
                            "gpuclust in the workers' environment") from None
    kinds = set(found.values())
    if not kinds:
        return here
    if len(kinds) > 1:
        n_gpu = sum(v == "cuda" for v in found.values())
        raise GpuclustError(f"the Dask workers differ: {n_gpu} of {len(found)} have a working CUDA GPU; start "
                            "them alike (all `dask cuda worker` or all `dask worker`), or pass --device cpu")
    kind = kinds.pop()
    if device == "cuda" and kind != "cuda":
        raise GpuclustError("--device cuda asked for, but the Dask workers have no working CUDA GPU (start them "
                            "with `dask cuda worker`, or use --device auto or cpu)")
    return kind


worker_probe = device_here  # what workers_device runs on each worker (a test stands in for it)


@contextmanager
def open_backend(device: str = "auto", dask: str | None = None, n_workers: int | None = None):
    """The Backend of a command: its device, and its Dask client, workers' device and Dask estimators when
    `dask` is given.

    The one place the compute is chosen; the client (and a local cluster it started) is closed on exit.
    """
    backend: Backend = resolve_backend(device)
    client = connect(dask, n_workers)
    try:
        if client is not None:
            from .gmm import DaskGaussianMixture
            from .kmeans import DaskKMeans

            backend = replace(backend, client=client, worker_device=workers_device(client, device, backend.device),
                              estimators=(DaskGaussianMixture, DaskKMeans))
        yield backend
    finally:
        disconnect(client)
