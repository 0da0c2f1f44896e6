"""Scale-out on Dask: the latent set (and the encoding) partitioned across workers, CPU or GPU."""
from .client import connect, open_backend
from .gmm import DaskGaussianMixture
from .kmeans import DaskKMeans

__all__ = ["connect", "open_backend", "DaskGaussianMixture", "DaskKMeans"]
