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


def _per_iteration(make, x, iters, repeats, sync=lambda: None, warm=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if warm:
            make(2).fit(x)  # warm-up: imports, allocator, BLAS threads, kernel compilation
        one = _median_time(lambda: make(1).fit(x), repeats, sync)
        many = _median_time(lambda: make(1 + iters).fit(x), repeats, sync)
    return max(many - one, 1e-9) / iters


def _shared_init(x, k):
    from sklearn.mixture import GaussianMixture as SkGM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = SkGM(k, random_state=0, max_iter=1).fit(x[: min(len(x), 20000)])
    return dict(weights_init=s.weights_, means_init=s.means_, precisions_init=s.precisions_)


# Above this many rows the CPU columns (minutes an iteration for scikit-learn at 4,000,000) are timed
# with fewer iterations, one repeat and only the machine's thread count; the JSON row says so.
CPU_FULL_N = 100_000


def _cpu_plan(n, iters, repeats):
    if n <= CPU_FULL_N:
        return iters, repeats, sorted({1, os.cpu_count() or 1})
    return max(2, round(iters * CPU_FULL_N / n)), 1, [os.cpu_count() or 1]


class _Fused:
    """Switch the fused GPU EM off (the array-API path on the GPU) or retune it, for one measurement."""

    def __init__(self, **settings):
        self.settings = settings

    def __enter__(self):
        from .clustering import fused_em

        self.saved = dict(fused_em.SETTINGS)
        fused_em.SETTINGS.update(self.settings)

    def __exit__(self, *exc):
        from .clustering import fused_em

        fused_em.SETTINGS.clear()
        fused_em.SETTINGS.update(self.saved)


def bench_gmm(x, k, iters, repeats, use_gpu: bool, cpu: bool = True) -> dict:
    from sklearn.mixture import GaussianMixture as SkGM
    from threadpoolctl import threadpool_limits

    from .clustering.gmm import GaussianMixture

    init = _shared_init(x, k)
    out = {}
    if cpu:
        cpu_iters, cpu_repeats, threads_tried = _cpu_plan(len(x), iters, repeats)
        out["cpu_iterations"], out["cpu_repeats"], out["cpu_threads_tried"] = cpu_iters, cpu_repeats, threads_tried
        best = None
        for threads in threads_tried:
            with threadpool_limits(threads):
                t = _per_iteration(lambda m: SkGM(k, tol=0, max_iter=m, init_params="random_from_data", **init),
                                   x, cpu_iters, cpu_repeats, warm=len(x) <= CPU_FULL_N)
            out[f"sklearn_gmm_{threads}thr_s"] = t
            best = t if best is None else min(best, t)
        out["sklearn_gmm_best_s"] = best
        for name, dt in (("float64", np.float64), ("float32", np.float32)):
            # All three *_init given: no initialisation is run, as in scikit-learn.
            t = _per_iteration(lambda m: GaussianMixture(k, tol=0, max_iter=m, **init), x.astype(dt), cpu_iters,
                               cpu_repeats, warm=len(x) <= CPU_FULL_N)
            out[f"gpuclust_gmm_numpy_{name}_s"] = t
            out[f"ratio_numpy_{name}_vs_sklearn"] = best / t
    best = out.get("sklearn_gmm_best_s")

    def gpu_column(key, xg, sync, **settings):
        with _Fused(**settings):
            t = _per_iteration(lambda m: GaussianMixture(k, tol=0, max_iter=m, **init), xg, iters, repeats, sync)
        out[key] = t
        if best is not None:
            out["ratio_" + key[:-2].replace("gpuclust_gmm_", "") + "_vs_sklearn"] = best / t

    if use_gpu:  # the array-API EM on CuPy (the fused path switched off), then the fused path on CuPy
        import cupy

        xg = cupy.asarray(x, dtype=cupy.float32)
        sync = cupy.cuda.Device().synchronize
        gpu_column("gpuclust_gmm_cupy_float32_s", xg, sync, enabled=False)
        if _fused_runs():
            gpu_column("gpuclust_gmm_fused_cupy_float32_s", xg, sync)
    torch_cuda = _torch_cuda()
    if torch_cuda is not None:  # the same on PyTorch CUDA tensors (array API through array-api-compat)
        xt = torch_cuda.asarray(x, dtype=torch_cuda.float32, device="cuda")
        sync = torch_cuda.cuda.synchronize
        gpu_column("gpuclust_gmm_torch_cuda_float32_s", xt, sync, enabled=False)
        if _fused_runs():
            gpu_column("gpuclust_gmm_fused_float32_s", xt, sync)
            gpu_column("gpuclust_gmm_fused_tf32x3_s", xt, sync, float32_dot="tf32x3")
            gpu_column("gpuclust_gmm_fused_nograph_s", xt, sync, graph=False)
            gpu_column("gpuclust_gmm_fused_float64_s", torch_cuda.asarray(x, device="cuda"), sync)
            out.update(_fused_agreement(x, k, init, torch_cuda))
    return out


def _fused_runs() -> bool:
    from .clustering import fused_em

    return fused_em.triton_available()


def _fused_agreement(x, k, init, torch, device="cuda", iters=20):
    """The fused fit against the array-API fit on the same GPU data: lower bound and labels."""
    from .clustering.gmm import GaussianMixture

    out = {}
    for name, dt in (("float32", torch.float32), ("float64", torch.float64)):
        xt = torch.asarray(x, dtype=dt, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _Fused(enabled=False):
                ref = GaussianMixture(k, tol=0, max_iter=iters, **init).fit(xt)
            got = GaussianMixture(k, tol=0, max_iter=iters, **init).fit(xt)
        out[f"fused_{name}_lower_bound_rel_diff"] = abs(got.lower_bound_ - ref.lower_bound_) / abs(ref.lower_bound_)
        out[f"fused_{name}_labels_equal"] = bool((got.predict(xt) == ref.predict(xt)).all().item())
    return out


def bench_fused_kernel(x, k, iters=200, grid=None, device="cuda") -> dict:
    """The fused iteration alone (no estimator around it), per setting: the figure for the 100-microsecond goal."""
    import torch

    from .clustering import em, fused_em
    from .clustering.gmm import GaussianMixture
    from .clustering.local_data import LocalData

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    xt = torch.asarray(x, dtype=torch.float32, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = GaussianMixture(k, max_iter=1, random_state=0).fit(xt)
    out = {}
    if grid is None:
        grid = [dict(block_n=b, num_warps=w, programs_per_sm=p, float32_dot=d, graph=True)
                for b, w in ((32, 4), (64, 4), (128, 8)) for p in (2, 4, 8) for d in ("ieee", "tf32x3")]
        grid.append(dict(fused_em.SETTINGS, graph=False))
    for opts in grid:
        data = fused_em.FusedData(LocalData(xt, start._shift, 1 << 20), **opts)
        p = em.Params(start._params.weights, start._params.means, start._params.covariances,
                      start._params.prec_chol, "full")
        for _ in range(3):  # compile, capture
            st, p = data.em_step(p, "full", 1e-6) or (None, p)
        sync()
        t = time.perf_counter()
        for _ in range(iters):
            step = data.em_step(p, "full", 1e-6)
            p = step[1] if step else p
        sync()
        key = "fused_iter_b{block_n}_w{num_warps}_p{programs_per_sm}_{float32_dot}{g}_s".format(
            g="" if opts["graph"] else "_nograph", **opts)
        out[key] = (time.perf_counter() - t) / iters
    out["fused_iter_best_s"] = min(out.values())
    out["fused_iter_best_setting"] = min((v, kk) for kk, v in out.items() if kk != "fused_iter_best_s")[1]
    return out


def device_ceilings() -> dict:
    """Copy bandwidth (bytes read + written per second) of the GPU, measured once, for the roofline."""
    import torch

    a = torch.empty(1 << 28, dtype=torch.float32, device="cuda")  # 1 GiB
    b = torch.empty_like(a)
    b.copy_(a)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        b.copy_(a)
    torch.cuda.synchronize()
    return {"copy_bandwidth_Bps": 10 * 2 * a.numel() * 4 / (time.perf_counter() - t)}


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def bench_kmeans(x, k, repeats, use_gpu: bool, cuml_ok: bool, cpu: bool = True) -> dict:
    from sklearn.cluster import KMeans as SkKMeans
    from threadpoolctl import threadpool_limits

    from .clustering.kmeans import KMeans

    out = {}
    best = None
    if cpu:
        _, cpu_repeats, threads_tried = _cpu_plan(len(x), 50, repeats)
        for threads in threads_tried:
            with threadpool_limits(threads):
                t = _median_time(lambda: SkKMeans(k, n_init=1, max_iter=50, tol=0, random_state=0).fit(x), cpu_repeats)
            out[f"sklearn_kmeans_{threads}thr_s"] = t
            best = t if best is None else min(best, t)
        out["sklearn_kmeans_best_s"] = best

    def column(key, fit, sync):
        fit()  # warm-up: kernel compilation
        t = _median_time(fit, repeats, sync)
        out[key] = t
        if best is not None:
            out["ratio_" + key[:-2] + "_vs_sklearn"] = best / t

    if use_gpu and cuml_ok:
        import cupy
        import cuml

        xg = cupy.asarray(x, dtype=cupy.float32)
        column("cuml_kmeans_s", lambda: cuml.cluster.KMeans(n_clusters=k, n_init=1, max_iter=50, tol=0, random_state=0,
                                                            output_type="cupy").fit(xg), cupy.cuda.Device().synchronize)
    if use_gpu and _cuvs_ok():
        import cupy
        from cuvs.cluster.kmeans import KMeansParams, fit

        xg = cupy.asarray(x, dtype=cupy.float32)
        column("cuvs_kmeans_s", lambda: fit(KMeansParams(n_clusters=k, max_iter=50, tol=0.0), xg),
               cupy.cuda.Device().synchronize)
    if use_gpu:  # gpuclust's own Lloyd (checked every few iterations) on CuPy: what runs on a GPU without cuML
        import cupy

        xg = cupy.asarray(x, dtype=cupy.float32)
        column("gpuclust_lloyd_cupy_s",
               lambda: KMeans(k, n_init=1, max_iter=50, tol=0, random_state=0, engine="array_api").fit(xg),
               cupy.cuda.Device().synchronize)
    torch_cuda = _torch_cuda()
    if torch_cuda is not None:
        xt = torch_cuda.asarray(x, dtype=torch_cuda.float32, device="cuda")
        column("gpuclust_lloyd_torch_cuda_s", lambda: KMeans(k, n_init=1, max_iter=50, tol=0, random_state=0).fit(xt),
               torch_cuda.cuda.synchronize)
    return out


def _cuvs_ok() -> bool:
    try:
        import cuvs.cluster.kmeans  # noqa: F401

        return True
    except Exception:
        return False


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


def run_bench(sizes, k=8, d=9, iters=20, repeats=3, tsne_size=5000, progress=print, cpu_max_n=None,
              kernel_n=None, partial=None) -> dict:
    """Every column at every size; CPU columns only up to cpu_max_n rows (None: all), and the fused
    kernel's settings swept at kernel_n rows (None: not swept). partial(result so far) after each size,
    so that a run cut short keeps the sizes it finished."""
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
    if use_gpu and not _cuvs_ok():
        why["cuvs"] = ("cuVS is not installed (it cannot be installed on the lent GPU machine: no network, "
                       "several GB): its K-means column is empty")
    if use_gpu and not _fused_runs():
        why["triton"] = "Triton is not importable: the fused EM columns are empty"
    extra = {}
    if _torch_cuda() is not None:
        extra["ceilings"] = device_ceilings()
    rows = []
    for n in sizes:
        x = synthetic_latents(n, d, k)
        cpu = cpu_max_n is None or n <= cpu_max_n
        row = {"n": n, "d": d, "k": k}
        progress(f"n={n}: Gaussian mixture ...")
        row.update(bench_gmm(x, k, iters, repeats, use_gpu, cpu))
        progress(f"n={n}: K-means ...")
        row.update(bench_kmeans(x, k, repeats, use_gpu, cuml_ok, cpu))
        if kernel_n == n and _torch_cuda() is not None and _fused_runs():
            progress(f"n={n}: fused EM iteration, settings swept ...")
            row.update(bench_fused_kernel(x, k))
        rows.append(row)
        progress(table({"rows": rows, "empty_columns": {}}))
        if partial is not None:
            partial({"environment": describe(), "empty_columns": why, "iterations": iters, "repeats": repeats,
                     "rows": rows, "tsne": {}, "complete": False, **extra})
    tsne_row = {}
    if tsne_size:
        progress(f"t-SNE on {tsne_size} points ...")
        tsne_row = {"n": tsne_size, **bench_tsne(synthetic_latents(tsne_size, d, k), use_gpu, cuml_ok)}
    return {"environment": describe(), "empty_columns": why, "iterations": iters, "repeats": repeats,
            "rows": rows, "tsne": tsne_row, **extra}


# (key, heading) of the table's columns: EM in ms per iteration, K-means in ms per 50-iteration fit
GMM_COLUMNS = [("sklearn_gmm_best_s", "sk GMM"), ("gpuclust_gmm_numpy_float64_s", "np f64"),
               ("gpuclust_gmm_numpy_float32_s", "np f32"), ("gpuclust_gmm_cupy_float32_s", "cupy"),
               ("gpuclust_gmm_torch_cuda_float32_s", "torch"), ("gpuclust_gmm_fused_float32_s", "fused"),
               ("gpuclust_gmm_fused_tf32x3_s", "f tf32x3"), ("gpuclust_gmm_fused_cupy_float32_s", "f cupy"),
               ("gpuclust_gmm_fused_float64_s", "f f64")]
KMEANS_COLUMNS = [("sklearn_kmeans_best_s", "sk KM"), ("gpuclust_lloyd_cupy_s", "KM cupy"),
                  ("gpuclust_lloyd_torch_cuda_s", "KM torch"), ("cuml_kmeans_s", "cuML"), ("cuvs_kmeans_s", "cuVS")]


def table(res: dict) -> str:
    cols = GMM_COLUMNS + KMEANS_COLUMNS
    lines = [f"{'N':>8} " + " ".join(f"{h:>9}" for _, h in cols),
             "         (ms: EM per iteration, then K-means per 50-iteration fit; '-': not measured, see the notes)"]
    ms = lambda v: f"{v * 1e3:9.3f}" if v is not None else f"{'-':>9}"  # noqa: E731
    for r in res["rows"]:
        lines.append(f"{r['n']:>8} " + " ".join(ms(r.get(key)) for key, _ in cols))
    for r in res["rows"]:
        if "fused_iter_best_s" in r:
            lines.append(f"fused EM iteration alone at N = {r['n']}: {r['fused_iter_best_s'] * 1e6:.1f} us "
                         f"({r['fused_iter_best_setting']})")
        for name in ("float32", "float64"):
            if f"fused_{name}_lower_bound_rel_diff" in r:
                lines.append(f"N = {r['n']}, fused vs array-API, {name}: lower bound differs by "
                             f"{r[f'fused_{name}_lower_bound_rel_diff']:.1e} (relative), labels "
                             f"{'equal' if r[f'fused_{name}_labels_equal'] else 'DIFFER'}")
    if res.get("ceilings"):
        lines.append(f"device copy bandwidth: {res['ceilings']['copy_bandwidth_Bps'] / 1e12:.2f} TB/s")
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
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    series = [("sklearn_gmm_best_s", "scikit-learn GaussianMixture"),
              ("gpuclust_gmm_numpy_float64_s", "gpuclust, NumPy float64"),
              ("gpuclust_gmm_numpy_float32_s", "gpuclust, NumPy float32"),
              ("gpuclust_gmm_cupy_float32_s", "gpuclust, CuPy float32"),
              ("gpuclust_gmm_torch_cuda_float32_s", "gpuclust, PyTorch CUDA float32"),
              ("gpuclust_gmm_fused_float32_s", "gpuclust, fused Triton EM, float32")]
    for (key, label), c in zip(series, palette(len(series))):
        have = [(r["n"], r[key] * 1e3) for r in rows if key in r]
        if have:
            ax.loglog(*zip(*have), "o-", color=c, label=label)
    ax.set_xlabel(f"number of latent vectors N (D = {rows[0]['d']}, K = {rows[0]['k']})")
    ax.set_ylabel("time per EM iteration (ms)")
    ax.set_title(f"Gaussian mixture EM, {res['environment'].get('gpu') or res['environment']['processor']}", y=1.0)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save(fig, path)
