"""Scale-out on Dask: the latent set (and the encoding) partitioned across workers, CPU or GPU."""
from .client import connect
from .gmm import DaskGaussianMixture
from .kmeans import DaskKMeans
from .cluster import fit_dask

__all__ = ["connect", "DaskGaussianMixture", "DaskKMeans", "fit_dask"]
