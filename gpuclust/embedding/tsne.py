"""t-SNE of latent vectors: cuML (FFT method) on GPU, openTSNE on CPU.

The reference settings are available: perplexity and learning rate scaled
with N, early exaggeration 20. Above `max_points` a seeded subsample is
embedded (t-SNE on CPU grows faster than linearly; see README for timings).
"""
from __future__ import annotations

import numpy as np

from ..backend import Backend, to_numpy
from ..errors import GpuclustError

DEFAULT_MAX_POINTS_CPU = 5000  # about 12 s with openTSNE on 2 cores; 10,000 points take about 30 s


def reference_settings(n: int) -> dict:
    """Perplexity and learning rate scaled with N (learning rate N/12 as Belkina et al. 2019)."""
    return {"perplexity": float(min(max(30.0, n / 100), 100.0)), "learning_rate": max(200.0, n / 12),
            "early_exaggeration": 20.0}


def subsample(n: int, max_points: int | None, seed: int) -> np.ndarray:
    if not max_points or n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def tsne(z, backend: Backend = Backend(), seed: int = 0, perplexity: float | None = None,
         learning_rate: float | None = None, early_exaggeration: float = 20.0, n_iter: int = 750) -> np.ndarray:
    """2-D t-SNE coordinates of z (N, D) as a host array: cuML's on a GPU backend with cuML, else openTSNE's."""
    n = len(z)
    if n < 5:
        raise GpuclustError(f"t-SNE needs at least 5 points, got {n}")
    ref = reference_settings(n)
    perplexity = min(perplexity or ref["perplexity"], (n - 1) / 3)
    learning_rate = learning_rate or ref["learning_rate"]
    if backend.device == "cuda" and not backend.cuml:
        import warnings

        warnings.warn("cuML is not installed: t-SNE runs on the CPU with openTSNE", stacklevel=2)
    if backend.device == "cuda" and backend.cuml:
        import cupy
        from cuml.manifold import TSNE

        # Barnes-Hut is known to hang on the GPU: FFT only.
        est = TSNE(n_components=2, perplexity=perplexity, learning_rate=learning_rate,
                   early_exaggeration=early_exaggeration, n_iter=n_iter, method="fft",
                   random_state=seed, output_type="cupy")
        return to_numpy(est.fit_transform(cupy.asarray(z, dtype=cupy.float32)))
    from openTSNE import TSNE

    est = TSNE(n_components=2, perplexity=perplexity, learning_rate=learning_rate,
               early_exaggeration=early_exaggeration, n_iter=n_iter, random_state=seed, n_jobs=-1,
               negative_gradient_method="auto", verbose=False)
    return np.asarray(est.fit(np.asarray(to_numpy(z), dtype=np.float64)))


def place_on_map(ref_latents, ref_xy, new_latents, perplexity: float, seed: int = 0) -> np.ndarray:
    """2-D positions of new latents on an existing t-SNE map, which stays as it is (openTSNE's transform).

    Each new point starts at the median position of its nearest reference points and is optimised
    against the fixed reference embedding. cuML's t-SNE cannot add points to a map, so this always
    runs on the CPU (openTSNE); the caller says so where a GPU was asked for.
    """
    from openTSNE import TSNEEmbedding
    from openTSNE.affinity import PerplexityBasedNN

    ref = np.asarray(to_numpy(ref_latents), dtype=np.float64)
    new = np.asarray(to_numpy(new_latents), dtype=np.float64)
    if len(new) == 0:
        return np.zeros((0, 2))
    perplexity = float(min(perplexity, (len(ref) - 1) / 3))
    aff = PerplexityBasedNN(ref, perplexity=perplexity, random_state=seed, n_jobs=-1)
    emb = TSNEEmbedding(np.asarray(ref_xy, dtype=np.float64), aff, random_state=seed, n_jobs=-1)
    return np.asarray(emb.transform(new, perplexity=min(5.0, (len(ref) - 1) / 3)))
