"""The two Triton kernels of one EM iteration with full covariances (gpuclust.clustering.fused_em drives them).

Imported only where Triton is; with TRITON_INTERPRET=1 set before the import they run on CPU
tensors (Triton's interpreter), which is how the tests check them without a GPU.

Layout shared by both kernels (D features, K components, padded to powers of two DP > D, KP >= K):
  - a sample is augmented with a 1 in column D, so x_aug = [x, 1, 0...] (DP,);
  - `par` (DP, KP*DP) holds, for component k in columns k*DP .. k*DP+DP, the precision Cholesky
    factor U_k in rows 0..D-1 and -mu_k U_k in row D: then x_aug @ par[:, k] = (x - mu_k) U_k,
    scikit-learn's y, and one matrix product gives all K of them;
  - `const` (KP,) = log w_k - D/2 log 2 pi + log |U_k| (-inf for padded components);
  - a program's statistics (KP*DP, DP): block k is sum_n r_nk x_aug x_aug', so that rows/columns
    < D are sum r x x', column D is sum r x, and entry (D, D) is sum r: one product for all three.
"""
import triton
import triton.language as tl


@triton.jit
def estep_stats(x_ptr, n, stride_x, par_ptr, const_ptr, part_ptr, ll_ptr,
                D: tl.constexpr, DP: tl.constexpr, K: tl.constexpr, KP: tl.constexpr, BN: tl.constexpr,
                FLOOR: tl.constexpr, PREC: tl.constexpr):
    """E-step and sufficient statistics of the rows this program strides over, written as one partial."""
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    cols = tl.arange(0, DP)
    kd = tl.arange(0, KP * DP)
    ks = tl.arange(0, KP)
    par = tl.load(par_ptr + cols[:, None] * (KP * DP) + kd[None, :])
    const = tl.load(const_ptr + ks)
    real = ks < K
    acc = tl.zeros((KP * DP, DP), dtype=par.dtype)
    ll = tl.zeros((BN,), dtype=par.dtype)
    for start in range(pid * BN, n, nprog * BN):
        rows = start + tl.arange(0, BN)
        inside = rows < n
        x = tl.load(x_ptr + rows[:, None] * stride_x + cols[None, :],
                    mask=inside[:, None] & (cols[None, :] < D), other=0.0)
        x = tl.where(cols[None, :] == D, 1.0, x).to(par.dtype)
        y = tl.dot(x, par, input_precision=PREC)  # (BN, KP*DP): (x - mu_k) U_k for every k
        maha = tl.sum(tl.reshape(y * y, (BN, KP, DP)), axis=2)
        lp = const[None, :] - 0.5 * maha
        top = tl.max(lp, axis=1)
        # as em.responsibilities: clipped below (no subnormal numbers), padded components exactly zero
        e = tl.where(real[None, :], tl.exp(tl.maximum(lp - top[:, None], FLOOR)), 0.0)
        s = tl.sum(e, axis=1)
        r = tl.where(inside[:, None], e / s[:, None], 0.0)
        ll += tl.where(inside, tl.log(s) + top, 0.0)
        w = tl.reshape(r[:, :, None] * x[:, None, :], (BN, KP * DP))
        acc += tl.dot(tl.trans(w), x, input_precision=PREC)
    tl.store(part_ptr + pid * (KP * DP * DP) + kd[:, None] * DP + cols[None, :], acc)
    tl.store(ll_ptr + pid, tl.sum(ll, axis=0))


@triton.jit
def m_step(part_ptr, ll_ptr, n_parts, par_ptr, const_ptr, out_ptr, flag_ptr, reg, tiny, log_2pi,
           D: tl.constexpr, DP: tl.constexpr, K: tl.constexpr, KP: tl.constexpr, PB: tl.constexpr):
    """M-step of component k (one program each): reduce the partials, then mean, covariance, its Cholesky
    factor, the precision factor and the next E-step's `par` and `const`, all in registers.

    `out` (flat) receives weights (K), means (K, D), covariances (K, D, D), precision factors (K, D, D),
    nk (K), sum r x (K, D), sum r x x' (K, D, D); flag[1 + k] = 1 if the covariance is not positive
    definite (the host then redoes the M-step on the array-API path, which raises or retries in float64);
    program 0 writes the summed log-likelihood to flag[0].
    """
    k = tl.program_id(0)
    idx = tl.arange(0, DP)
    r = idx[:, None]
    c = idx[None, :]
    kk = tl.arange(0, KP)
    ps = tl.arange(0, PB)
    s = tl.zeros((DP, DP), dtype=part_ptr.dtype.element_ty)
    nk_all = tl.zeros((KP,), dtype=part_ptr.dtype.element_ty)
    block = KP * DP * DP
    for p0 in range(0, n_parts, PB):
        p = p0 + ps
        pm = p < n_parts
        tile = tl.load(part_ptr + p[:, None, None] * block + (k * DP + r[None]) * DP + c[None],
                       mask=pm[:, None, None], other=0.0)
        s += tl.sum(tile, axis=0)
        nks = tl.load(part_ptr + p[:, None] * block + (kk[None, :] * DP + D) * DP + D, mask=pm[:, None], other=0.0)
        nk_all += tl.sum(nks, axis=0)
    nk_raw = tl.sum(tl.sum(tl.where((r == D) & (c == D), s, 0.0), axis=1), axis=0)
    nk = nk_raw + tiny
    total = tl.sum(tl.where(kk < K, nk_all + tiny, 0.0), axis=0)
    inner = (r < D) & (c < D)
    s1 = tl.where(idx < D, tl.sum(tl.where(c == D, s, 0.0), axis=1), 0.0)  # (DP,) sum r x
    mean = s1 / nk
    # em.gaussian_estimates' full covariance, term for term
    cov = tl.where(inner, s / nk - (2.0 - nk_raw / nk) * (mean[:, None] * mean[None, :]), 0.0)
    cov = cov + tl.where((r == c) & (r < D), reg, 0.0)
    # Cholesky factor L (lower) of cov, column by column; padding keeps a unit diagonal
    a = cov + tl.where((r == c) & (r >= D), 1.0, 0.0)
    low = tl.zeros((DP, DP), dtype=s.dtype)
    bad = 0.0
    for j in tl.static_range(D):
        col = tl.sum(tl.where(c == j, a, 0.0), axis=1)
        piv = tl.sum(tl.where(idx == j, col, 0.0), axis=0)
        bad = tl.maximum(bad, tl.where(piv > 0.0, 0.0, 1.0))  # NaN too
        root = tl.sqrt(tl.where(piv > 0.0, piv, 1.0))  # flagged either way; keeps the rest finite
        lcol = tl.where(idx == j, root, tl.where(idx > j, col / root, 0.0))
        low = tl.where(c == j, lcol[:, None], low)
        a = a - lcol[:, None] * lcol[None, :]
    low = low + tl.where((r == c) & (r >= D), 1.0, 0.0)
    # m = L^-1 by forward substitution, row by row; the precision factor is U = m'
    m = tl.zeros((DP, DP), dtype=s.dtype)
    for i in tl.static_range(D):
        li = tl.sum(tl.where(r == i, low, 0.0), axis=0)  # row i of L, indexed by column
        lii = tl.sum(tl.where(idx == i, li, 0.0), axis=0)
        done = tl.sum(tl.where(idx[:, None] < i, li[:, None] * m, 0.0), axis=0)
        mrow = (tl.where(idx == i, 1.0, 0.0) - done) / lii
        m = tl.where(r == i, mrow[None, :], m)
    diag = tl.sum(tl.where((r == c) & (r < D), m, 0.0), axis=1)
    log_det = tl.sum(tl.where(idx < D, tl.log(tl.where(idx < D, diag, 1.0)), 0.0), axis=0)
    w = nk / total
    cvec = tl.sum(tl.where(inner, m * mean[None, :], 0.0), axis=1)  # (mu U)_j = sum_i mu_i m[j, i]
    # the next E-step's coefficients: par[i, k*DP + j] = U[i, j] = m[j, i]; row D holds -mu U
    tl.store(par_ptr + c * (KP * DP) + k * DP + r, m, mask=inner)
    tl.store(par_ptr + D * (KP * DP) + k * DP + idx, -cvec, mask=idx < D)
    tl.store(const_ptr + k, tl.log(w) - 0.5 * D * log_2pi + log_det)
    # fitted values in scikit-learn's shapes
    o_mean = K
    o_cov = o_mean + K * D
    o_pc = o_cov + K * D * D
    o_nk = o_pc + K * D * D
    o_s1 = o_nk + K
    o_s2 = o_s1 + K * D
    tl.store(out_ptr + k, w)
    tl.store(out_ptr + o_mean + k * D + idx, mean, mask=idx < D)
    tl.store(out_ptr + o_cov + k * D * D + r * D + c, cov, mask=inner)
    tl.store(out_ptr + o_pc + k * D * D + c * D + r, m, mask=inner)  # U[c, r] = m[r, c]
    tl.store(out_ptr + o_nk + k, nk_raw)
    tl.store(out_ptr + o_s1 + k * D + idx, s1, mask=idx < D)
    tl.store(out_ptr + o_s2 + k * D * D + r * D + c, s, mask=inner)
    tl.store(flag_ptr + 1 + k, bad)
    if k == 0:
        lls = tl.zeros((PB,), dtype=s.dtype)
        for p0 in range(0, n_parts, PB):
            p = p0 + ps
            lls += tl.load(ll_ptr + p, mask=p < n_parts, other=0.0)
        tl.store(flag_ptr, tl.sum(lls, axis=0))
