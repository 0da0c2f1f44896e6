"""Input checks: scikit-learn's for NumPy and array-likes, the same rules and messages for other array libraries."""
from __future__ import annotations

import numpy as np

from ..backend import is_array, is_numpy, namespace, to_numpy
from ..errors import GpuclustError


def native_input(x) -> bool:
    """True for arrays of an array-API library other than NumPy (CuPy, PyTorch, array-api-strict, ...)."""
    if not is_array(x):
        return False
    xp, _ = namespace(x)
    return not is_numpy(xp)


def check_data(estimator, x, reset: bool, min_samples: int = 1, dtype=("float64", "float32")):
    """Validate samples for an estimator and record (reset=True) or check the number of features.

    NumPy arrays, lists and DataFrames go through scikit-learn's `validate_data` (feature names,
    dtype conversion, NaN checks); arrays of other libraries get the same checks and messages
    here and stay in their namespace and on their device.
    """
    from sklearn.utils.validation import validate_data

    if not native_input(x):
        return validate_data(estimator, x, reset=reset, dtype=[np.dtype(d) for d in dtype],
                             ensure_min_samples=min_samples)
    xp, dev = namespace(x)
    name = type(estimator).__name__
    if x.ndim != 2:
        raise ValueError(f"Expected 2D array, got {x.ndim}D array instead. Reshape your data either using "
                         "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) "
                         "if it contains a single sample.")
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, getattr(xp, dtype[0]))
    elif x.dtype not in tuple(getattr(xp, d) for d in dtype):
        x = xp.astype(x, getattr(xp, dtype[0]))
    n, d = x.shape
    if n < min_samples:
        raise ValueError(f"Found array with {n} sample(s) (shape={tuple(x.shape)}) while a minimum of "
                         f"{min_samples} is required by {name}.")
    if d < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={tuple(x.shape)}) while a minimum of 1 is "
                         f"required by {name}.")
    if not bool(xp.all(xp.isfinite(x))):
        what = "NaN" if bool(xp.any(xp.isnan(x))) else f"infinity or a value too large for dtype('{x.dtype}')"
        raise ValueError(f"Input X contains {what}.")
    if reset:
        estimator.n_features_in_ = d
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif d != estimator.n_features_in_:
        raise ValueError(f"X has {d} features, but {name} is expecting {estimator.n_features_in_} features "
                         "as input.")
    return x


def same_namespace(x, estimator, attribute: str, method: str) -> None:
    """Under scikit-learn's `array_api_dispatch`, refuse input from another namespace or device than the fit
    (its convention); otherwise gpuclust's estimators move their parameters to the input, so a model fitted
    on the GPU labels NumPy arrays and the other way round."""
    try:
        from sklearn.utils._array_api import check_same_namespace
    except ImportError:  # a scikit-learn without the check has no such convention to follow
        return
    check_same_namespace(x, estimator, attribute=attribute, method=method)


def check_latents(x, k: int | None = None, dtype=None, what: str = "input"):
    """A 2-D finite float array with at least k rows, in its own namespace: one-line GpuclustErrors for the CLI."""
    xp, dev = namespace(x) if is_array(x) else namespace(np.asarray(x))
    x = xp.asarray(x)
    if dtype is None:
        dtype = x.dtype if x.dtype in (xp.float32, xp.float64) else xp.float64
    elif isinstance(dtype, (str, type, np.dtype)):
        dtype = getattr(xp, np.dtype(dtype).name)
    if x.ndim != 2:
        raise GpuclustError(f"{what} must be 2-D (samples, features); got shape {tuple(x.shape)}")
    x = xp.astype(x, dtype)
    n, d = x.shape
    if d == 0:
        raise GpuclustError(f"{what} has 0 features (shape {tuple(x.shape)})")
    if n == 0:
        raise GpuclustError(f"{what} has 0 samples")
    if k is not None and k > n:
        raise GpuclustError(f"K = {k} clusters asked for, but {what} has only {n} samples")
    if k is not None and k < 1:
        raise GpuclustError(f"K must be at least 1, got {k}")
    bad = to_numpy(~xp.all(xp.isfinite(x), axis=1))
    n_bad = int(bad.sum())
    if n_bad:
        raise GpuclustError(f"{what} has {n_bad} row(s) with NaN or inf (first: row {int(np.flatnonzero(bad)[0])})")
    return x
