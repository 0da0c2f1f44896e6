"""The one exception type a user sees: a problem they can fix, said in one line."""


class GpuclustError(ValueError):
    """Bad input or a bad option. The CLI prints the message alone and exits non-zero.

    A ValueError, so code that catches scikit-learn's input errors catches gpuclust's too.
    """
