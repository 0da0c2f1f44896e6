"""EM on the GPU bound by its work, not its launches: an iteration is two Triton kernels and one small read-back.

gpuclust.clustering.em stays the reference and the CPU path; this module replaces only the
inner loop of GaussianMixture's fit on CUDA data (PyTorch tensors, or CuPy arrays seen through
DLPack without a copy) when Triton imports:

  1. `estep_stats` (fused_kernels.py): each program strides over blocks of rows, computes
     (x - mu_k) U_k for all K components with one matrix product on the augmented sample
     [x, 1], the log-responsibilities with a stable log-sum-exp, and accumulates
     sum r [x,1][x,1]' (which holds Nk, sum r x and sum r x x' at once) and the log-likelihood
     in registers; it writes one small partial per program (no atomics: the same sum every run).
  2. `m_step`: one program per component reduces the partials and does scikit-learn's M-step
     for full covariances (mean, covariance + reg_covar, Cholesky factor, its triangular
     inverse, log-determinant, weight) in registers, and writes both the fitted values and the
     next E-step's coefficients, so nothing returns to the host between iterations.
  3. the host reads back 1 + K numbers: the log-likelihood that scikit-learn's convergence
     rule needs and one flag per component saying whether its covariance was positive definite.
     That read is the only host synchronisation of an iteration.

After the first iteration the two launches are captured as a CUDA graph and replayed
(`SETTINGS["graph"]`), so an iteration costs one graph launch, one device-side copy of the
parameters (15 KB at K = 8, D = 12: the estimator keeps each iteration's) and the read-back.

Covariance types: "full" is fused end to end. "tied", "diag" and "spherical" use the fused
E-step and statistics (their precision factors written as full K x D x D ones) and the
array-API M-step of em.py, which synchronises a few times; a non-positive-definite
covariance (flagged) falls back to the array-API M-step too, which raises scikit-learn's error
or retries in float64 exactly as on the CPU.

Cost at the benchmark's size, N = 427,798, D = 12, K = 8, float32 (padded to DP = 16, KP = 8):
  bytes:  the data are read once, 427,798 x 12 x 4 = 20.5 MB; the partials are
          P x KP*DP*DP x 4 = 528 x 8 KB = 4.3 MB written and read again (P = 4 programs per SM of
          132): about 29 MB an iteration, 6.1 microseconds at the H200's 4.8 TB/s.
  FLOPs:  two products per row, (16) x (16, 128) and (128) x (16), 8,192 FLOPs a row padded
          (3.5 GFLOP an iteration; 1.6 GFLOP of it useful), plus 8 exponentials a row.
          In IEEE float32 on the CUDA cores (about 67 TFLOP/s by the datasheet) that is 52 us;
          with "tf32x3" (three TF32 tensor-core products, near-float32 accuracy) about 3.5 /
          165 TFLOP/s = 21 us.
  The M-step kernel (one program per component) reads its component's 1 KB of every partial, 528 KB,
  about 5 us from one multiprocessor; fewer programs per SM shorten it and lengthen the E-step's tail.
  So the iteration is arithmetic-bound, not memory-bound, once launches are gone: the floor is
  about 52 us in IEEE float32 (21 us with tf32x3), under the 100 us goal either way, and the
  launch and read-back overhead (a graph launch and a synchronisation, roughly 10-20 us) sits
  on top. benchmarks/gpu_session.sh measures it; the H100's array-API figure was 2,960 us.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from . import em

# Tuning of the kernels; benchmarks sweep them (and switch the path off to time the array-API one on the
# GPU). programs_per_sm sizes the persistent grid.
SETTINGS = {"enabled": True, "block_n": 64, "num_warps": 4, "programs_per_sm": 4, "graph": True, "float32_dot": "ieee"}


def runs_on(x) -> bool:
    """True where the fused kernels can run on x: a CUDA PyTorch tensor or a CuPy array, with Triton importable."""
    root = type(x).__module__.split(".")[0]
    if root == "torch":
        on_gpu = x.is_cuda
    elif root == "cupy":
        on_gpu = True
    else:
        return False
    return on_gpu and triton_available()


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def accelerate(data):
    """local_data.LocalData -> the same data with fused iterations where `runs_on` its samples; else `data` itself."""
    return FusedData(data) if SETTINGS["enabled"] and runs_on(data.xc) else data


class _Unavailable(Exception):
    """A fused kernel failed to compile or launch (already warned): the caller takes the array-API path."""


def _pow2(v: int) -> int:
    return 1 << max(0, (v - 1).bit_length())


def _torch(a):
    import torch

    return a if isinstance(a, torch.Tensor) else torch.from_dlpack(a)


class FusedData:
    """One process's samples (a local_data.LocalData) whose EM iterations run as the two fused kernels.

    Everything else (initialisations, labels, the float64 retry) is the wrapped LocalData's.
    """

    def __init__(self, local, **settings):
        import torch

        opts = {**SETTINGS, **settings}
        self._local = local
        self._xp = local.xp
        self._torch_input = isinstance(local.xc, torch.Tensor)
        x = _torch(local.xc)
        self.xt = x.contiguous()
        n, d = self.xt.shape
        self.n_rows, self.d = n, d
        self.dp = max(16, _pow2(d + 1))  # room for the augmented 1; tl.dot needs 16 or more
        self.opts = opts
        dt = self.xt.dtype
        self.floor = -80.0 if dt == torch.float32 else -700.0
        self.prec = opts["float32_dot"] if dt == torch.float32 else "ieee"
        dev = self.xt.device
        sms = torch.cuda.get_device_properties(dev).multi_processor_count if dev.type == "cuda" else 2
        self.programs = max(1, min(opts["programs_per_sm"] * sms, -(-n // opts["block_n"])))
        self._k = None
        self._last = None
        self._graph = None
        self._graph_ok = opts["graph"] and dev.type == "cuda"
        self._broken = False

    def __getattr__(self, name):  # the wrapped LocalData's samples, design and initialisations
        return getattr(self._local, name)

    # -- buffers and parameters ---------------------------------------------------
    def _buffers(self, k: int):
        import torch

        if self._k == k:
            return
        self._k, self.kp = k, _pow2(k)
        dp, kp, d = self.dp, self.kp, self.d
        f = dict(dtype=self.xt.dtype, device=self.xt.device)
        self.par = torch.zeros((dp, kp * dp), **f)
        self.const = torch.full((kp,), -math.inf, **f)
        self.part = torch.empty((self.programs, kp * dp, dp), **f)
        self.part_ll = torch.empty((self.programs,), **f)
        self.out = torch.empty((k * (2 + 2 * d + 3 * d * d),), **f)
        self.flag = torch.zeros((1 + k,), **f)
        self._graph = None

    def _load(self, p: em.Params):
        """Write the E-step's coefficients of parameters p (any covariance type) into `par` and `const`."""
        import torch

        k, d = p.means.shape
        self._buffers(k)
        u = _torch(em.full_prec_chol(p)).to(self.xt.dtype)  # (K, D, D)
        means = _torch(p.means).to(self.xt.dtype)
        view = self.par.view(self.dp, self.kp, self.dp)
        view.zero_()
        view[:d, :k, :d] = u.permute(1, 0, 2)
        view[d, :k, :d] = -torch.einsum("kd,kde->ke", means, u)
        self.const[:k] = _torch(em.log_norm_const(p)).to(self.xt.dtype)
        self._last = p

    # -- the kernels -------------------------------------------------------------------
    def _estep(self):
        from . import fused_kernels as fk

        fk.estep_stats[(self.programs,)](
            self.xt, self.n_rows, self.xt.stride(0), self.par, self.const, self.part, self.part_ll,
            D=self.d, DP=self.dp, K=self._k, KP=self.kp, BN=self.opts["block_n"], FLOOR=self.floor, PREC=self.prec,
            num_warps=self.opts["num_warps"])

    def _mstep(self, reg_covar: float):
        import torch

        from . import fused_kernels as fk

        tiny = 10 * torch.finfo(self.xt.dtype).eps
        fk.m_step[(self._k,)](self.part, self.part_ll, self.programs, self.par, self.const, self.out, self.flag,
                              float(reg_covar), tiny, math.log(2 * math.pi),
                              D=self.d, DP=self.dp, K=self._k, KP=self.kp, PB=16, num_warps=4)

    def _iterate(self, reg_covar: float):
        if self._graph is not None and self._graph_reg == reg_covar:
            self._graph.replay()
            return
        self._launch(self._estep)
        self._launch(self._mstep, reg_covar)
        if self._graph_ok:
            self._capture(reg_covar)

    def _launch(self, kernel, *args):
        """Launch a kernel; one that cannot compile or run here switches this fit to the array-API path."""
        try:
            kernel(*args)
        except Exception as e:  # e.g. a Triton too old for a construct, or float64 products it cannot lower
            warnings.warn(f"fused EM unavailable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                          "using the array-API EM", RuntimeWarning, stacklevel=3)
            self._broken = True
            raise _Unavailable from e

    def _capture(self, reg_covar: float):
        """Record the two launches as a CUDA graph (after they ran once, so they are compiled)."""
        import torch

        try:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                self._estep()
                self._mstep(reg_covar)
            self._graph, self._graph_reg = g, reg_covar
        except Exception as e:  # a driver or Triton that cannot capture: plain launches are as correct
            warnings.warn(f"fused EM: CUDA graph capture failed ({type(e).__name__}: {e}); launching the kernels "
                          "one by one", RuntimeWarning, stacklevel=2)
            self._graph_ok = False

    # -- what GaussianMixture calls ----------------------------------------------------
    def stats(self, p: em.Params) -> em.Stats:
        """Fused E-step and statistics under p, reduced on the device (any covariance type)."""
        if self._broken:
            return self._local.stats(p)
        self._load(p)
        try:
            self._launch(self._estep)
        except _Unavailable:
            return self._local.stats(p)
        k, d = self._k, self.d
        tot = self.part.sum(0).view(self.kp, self.dp, self.dp)
        return em.Stats(self._out(tot[:k, d, d]), self._out(tot[:k, :d, d]), self._out(tot[:k, :d, :d]),
                        self._out(self.part_ll.sum()), self.n_rows)

    def em_step(self, p: em.Params, cov_type: str, reg_covar: float):
        """(statistics under p, the M-step's parameters) by the fused kernels; None where they do not apply
        (a covariance type other than full, or a covariance that is not positive definite), so that the
        caller does the array-API M-step instead."""
        if cov_type != "full" or self._broken:
            return None
        if p is not self._last:
            self._load(p)
        try:
            self._iterate(reg_covar)
        except _Unavailable:
            return None
        out = self.out.clone()
        flags = self.flag.tolist()  # the iteration's one synchronisation: log-likelihood and the flags
        if any(flags[1:]):
            self._last = None
            return None
        k, d = self._k, self.d
        parts = np.cumsum([0, k, k * d, k * d * d, k * d * d, k, k * d, k * d * d])
        w, mu, cov, pc, nk, s1, s2 = (out[a:b] for a, b in zip(parts[:-1], parts[1:]))
        params = em.Params(self._out(w), self._out(mu.view(k, d)), self._out(cov.view(k, d, d)),
                           self._out(pc.view(k, d, d)), "full")
        self._last = params
        return em.Stats(self._out(nk), self._out(s1.view(k, d)), self._out(s2.view(k, d, d)), flags[0],
                        self.n_rows), params

    def _out(self, t):
        """A result in the input's namespace (CuPy input gets CuPy arrays back, without a copy)."""
        return t if self._torch_input else self._xp.from_dlpack(t)
