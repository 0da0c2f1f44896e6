"""CPU against GPU clustering speed, side by side in one run on the same latents.

Per-iteration EM cost is measured through the public API as
(time of a fit with 1 + n iterations - time of a fit with 1 iteration) / n,
so initialisation and the final labelling cancel out. scikit-learn is given
its best thread count (it is often fastest with BLAS at one thread). Every
figure is the median of `repeats` runs.
"""
from __future__ import annotations

import os
import statistics
import time
import warnings

import numpy as np

from .backend import Backend, gpu_available
from .environment import describe


def synthetic_latents(n: int, d: int = 9, k: int = 8, seed: int = 0, dtype=np.float64):
    """A K-component Gaussian mixture in D dims, roughly the shape of an autoencoder's latents."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (k, d))
    mix = rng.normal(0, 1, (k, d, d)) * 0.4
    lab = rng.choice(k, n, p=rng.dirichlet(np.full(k, 3.0)))
    x = centres[lab] + np.einsum("nd,nde->ne", rng.standard_normal((n, d)), mix[lab])
    # Folded onto the positive orthant as the first tables were measured (when latents came out of a ReLU);
    # kept so that timings stay comparable with them: speed does not depend on the sign.
    return np.abs(x).astype(dtype)


def _median_time(fn, repeats, sync=lambda: None):
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _per_iteration(make, x, iters, repeats, sync=lambda: None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make(2).fit(x)  # warm-up: imports, allocator, BLAS threads
        one = _median_time(lambda: make(1).fit(x), repeats, sync)
        many = _median_time(lambda: make(1 + iters).fit(x), repeats, sync)
    return max(many - one, 1e-9) / iters


def _shared_init(x, k):
    from sklearn.mixture import GaussianMixture as SkGM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = SkGM(k, random_state=0, max_iter=1).fit(x[: min(len(x), 20000)])
    return dict(weights_init=s.weights_, means_init=s.means_, precisions_init=s.precisions_)


def bench_gmm(x, k, iters, repeats, use_gpu: bool) -> dict:
    from sklearn.mixture import GaussianMixture as SkGM
    from threadpoolctl import threadpool_limits

    from .clustering.gmm import GaussianMixture

    init = _shared_init(x, k)
    out = {}
    best = None
    for threads in sorted({1, os.cpu_count() or 1}):
        with threadpool_limits(threads):
            t = _per_iteration(lambda m: SkGM(k, tol=0, max_iter=m, init_params="random_from_data", **init),
                               x, iters, repeats)
        out[f"sklearn_gmm_{threads}thr_s"] = t
        best = t if best is None else min(best, t)
    out["sklearn_gmm_best_s"] = best
    for name, dt in (("float64", np.float64), ("float32", np.float32)):
        # All three *_init given: no initialisation is run, as in scikit-learn.
        t = _per_iteration(lambda m: GaussianMixture(k, tol=0, max_iter=m, **init), x.astype(dt), iters, repeats)
        out[f"gpuclust_gmm_numpy_{name}_s"] = t
        out[f"ratio_numpy_{name}_vs_sklearn"] = best / t
    if use_gpu:
        import cupy

        xg = cupy.asarray(x, dtype=cupy.float32)
        sync = cupy.cuda.Device().synchronize
        t = _per_iteration(lambda m: GaussianMixture(k, tol=0, max_iter=m, **init), xg, iters, repeats, sync)
        out["gpuclust_gmm_cupy_float32_s"] = t
        out["ratio_cupy_vs_sklearn"] = best / t
    torch_cuda = _torch_cuda()
    if torch_cuda is not None:  # the same code on PyTorch CUDA tensors (array API through array-api-compat)
        xt = torch_cuda.asarray(x, dtype=torch_cuda.float32, device="cuda")
        t = _per_iteration(lambda m: GaussianMixture(k, tol=0, max_iter=m, **init), xt, iters, repeats,
                           torch_cuda.cuda.synchronize)
        out["gpuclust_gmm_torch_cuda_float32_s"] = t
        out["ratio_torch_cuda_vs_sklearn"] = best / t
    return out


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def bench_kmeans(x, k, repeats, use_gpu: bool, cuml_ok: bool) -> dict:
    from sklearn.cluster import KMeans as SkKMeans
    from threadpoolctl import threadpool_limits

    out = {}
    best = None
    for threads in sorted({1, os.cpu_count() or 1}):
        with threadpool_limits(threads):
            t = _median_time(lambda: SkKMeans(k, n_init=1, max_iter=50, tol=0, random_state=0).fit(x), repeats)
        out[f"sklearn_kmeans_{threads}thr_s"] = t
        best = t if best is None else min(best, t)
    out["sklearn_kmeans_best_s"] = best
    if use_gpu and cuml_ok:
        import cupy
        import cuml

        xg = cupy.asarray(x, dtype=cupy.float32)
        sync = cupy.cuda.Device().synchronize
        t = _median_time(lambda: cuml.cluster.KMeans(n_clusters=k, n_init=1, max_iter=50, tol=0, random_state=0,
                                                     output_type="cupy").fit(xg), repeats, sync)
        out["cuml_kmeans_s"] = t
        out["ratio_cuml_vs_sklearn"] = best / t
    if use_gpu:  # gpuclust's own array-API Lloyd on CuPy: what runs on a GPU without cuML
        import cupy

        from .clustering.kmeans import KMeans

        xg = cupy.asarray(x, dtype=cupy.float32)
        sync = cupy.cuda.Device().synchronize
        fit = lambda: KMeans(k, n_init=1, max_iter=50, tol=0, random_state=0, engine="array_api").fit(xg)  # noqa: E731
        fit()  # warm-up: kernel compilation
        t = _median_time(fit, repeats, sync)
        out["gpuclust_lloyd_cupy_s"] = t
        out["ratio_lloyd_cupy_vs_sklearn"] = best / t
    return out


def bench_tsne(x, use_gpu: bool, cuml_ok: bool) -> dict:
    from .embedding.tsne import tsne

    out = {}
    t = time.perf_counter()
    tsne(x, Backend("cpu"), seed=0)
    out["opentsne_s"] = time.perf_counter() - t
    if use_gpu and cuml_ok:
        t = time.perf_counter()
        tsne(x, Backend("cuda", cuml=True), seed=0)
        out["cuml_tsne_s"] = time.perf_counter() - t
        out["ratio_cuml_vs_opentsne"] = out["opentsne_s"] / out["cuml_tsne_s"]
    return out


def run_bench(sizes, k=8, d=9, iters=20, repeats=3, tsne_size=5000, progress=print) -> dict:
    use_gpu = gpu_available()
    try:
        import cuml  # noqa: F401

        cuml_ok = True
    except Exception:
        cuml_ok = False
    why = {}
    if not use_gpu:
        why["gpu"] = "no CUDA GPU with CuPy here (cupy.cuda.is_available() is false): GPU columns are empty"
    elif not cuml_ok:
        why["cuml"] = "cuML is not installed: cuML K-means and t-SNE columns are empty"
    rows = []
    for n in sizes:
        x = synthetic_latents(n, d, k)
        row = {"n": n, "d": d, "k": k}
        progress(f"n={n}: Gaussian mixture ...")
        row.update(bench_gmm(x, k, iters, repeats, use_gpu))
        progress(f"n={n}: K-means ...")
        row.update(bench_kmeans(x, k, repeats, use_gpu, cuml_ok))
        rows.append(row)
    tsne_row = {}
    if tsne_size:
        progress(f"t-SNE on {tsne_size} points ...")
        tsne_row = {"n": tsne_size, **bench_tsne(synthetic_latents(tsne_size, d, k), use_gpu, cuml_ok)}
    return {"environment": describe(), "empty_columns": why, "iterations": iters, "repeats": repeats,
            "rows": rows, "tsne": tsne_row}


def table(res: dict) -> str:
    lines = [f"{'N':>8} {'sklearn GMM':>12} {'ours f64':>9} {'ours f32':>9} {'x f64':>6} {'x f32':>6} "
             f"{'ours GPU':>9} {'x GPU':>7} {'torch GPU':>9} {'sk KMeans':>10} {'cuML KM':>8} {'ours KM GPU':>11}",
             "         (GMM: ms per EM iteration, x = speed-up over scikit-learn at its best thread count;",
             "          KMeans: ms for a 50-iteration fit)"]
    ms = lambda v: f"{v * 1e3:9.2f}" if v is not None else f"{'-':>9}"  # noqa: E731
    rt = lambda v: f"{v:6.1f}" if v is not None else f"{'-':>6}"  # noqa: E731
    for r in res["rows"]:
        lines.append(f"{r['n']:>8} {ms(r['sklearn_gmm_best_s']):>12} {ms(r['gpuclust_gmm_numpy_float64_s'])} "
                     f"{ms(r['gpuclust_gmm_numpy_float32_s'])} {rt(r['ratio_numpy_float64_vs_sklearn'])} "
                     f"{rt(r['ratio_numpy_float32_vs_sklearn'])} {ms(r.get('gpuclust_gmm_cupy_float32_s'))} "
                     f"{rt(r.get('ratio_cupy_vs_sklearn')):>7} {ms(r.get('gpuclust_gmm_torch_cuda_float32_s'))} "
                     f"{ms(r['sklearn_kmeans_best_s']):>10} "
                     f"{ms(r.get('cuml_kmeans_s')):>8} {ms(r.get('gpuclust_lloyd_cupy_s')):>11}")
    if res.get("tsne"):
        t = res["tsne"]
        lines.append(f"t-SNE, {t['n']} points: openTSNE {t['opentsne_s']:.1f} s"
                     + (f", cuML {t['cuml_tsne_s']:.1f} s" if "cuml_tsne_s" in t else ""))
    for why in res["empty_columns"].values():
        lines.append(f"note: {why}")
    return "\n".join(lines)


def bench_figure(res: dict, path) -> None:
    from .plots.style import palette, plt, save

    rows = res["rows"]
    n = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    series = [("sklearn_gmm_best_s", "scikit-learn GaussianMixture"),
              ("gpuclust_gmm_numpy_float64_s", "gpuclust, NumPy float64"),
              ("gpuclust_gmm_numpy_float32_s", "gpuclust, NumPy float32"),
              ("gpuclust_gmm_cupy_float32_s", "gpuclust, CuPy float32"),
              ("gpuclust_gmm_torch_cuda_float32_s", "gpuclust, PyTorch CUDA float32")]
    for (key, label), c in zip(series, palette(len(series))):
        if all(key in r for r in rows):
            ax.loglog(n, [r[key] * 1e3 for r in rows], "o-", color=c, label=label)
    ax.set_xlabel("number of latent vectors N (D = 9, K = 8)")
    ax.set_ylabel("time per EM iteration (ms)")
    ax.set_title(f"Gaussian mixture EM, {res['environment'].get('gpu') or res['environment']['processor']}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save(fig, path)
