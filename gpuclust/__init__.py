"""gpuclust: unsupervised clustering of seismic spectrograms on GPU or CPU."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gpuclust")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

from .errors import GpuclustError  # noqa: E402


def __getattr__(name):
    # Lazy so that `import gpuclust` stays light (no scikit-learn until clustering is used).
    if name == "GaussianMixture":
        from .clustering.gmm import GaussianMixture

        return GaussianMixture
    if name == "KMeans":
        from .clustering.kmeans import KMeans

        return KMeans
    raise AttributeError(name)


__all__ = ["GaussianMixture", "KMeans", "GpuclustError", "__version__"]
