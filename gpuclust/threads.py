"""How many threads torch and BLAS use, chosen deliberately instead of one per core, spinning.

On a shared machine (a login node, a laptop with other work) the libraries' defaults
collapse: OpenMP threads spin while they wait for each other, and with as many threads
as cores every neighbour process steals a core from a thread the others are waiting
for. Training then runs 10-15x slower beside one busy process, where a fair share would
cost 2x. Two remedies, applied by the `gpuclust` command at start-up:

  - waiting threads spin briefly and then sleep (GOMP_SPINCOUNT, KMP_BLOCKTIME), set before
    torch or NumPy load their OpenMP runtimes (they read the environment once);
  - the thread count is the number of cores this process may use minus the cores other
    processes are busy on right now (sampled from /proc/stat for a fifth of a second),
    at least one; `gpuclust --threads N` or GPUCLUST_THREADS overrides it.
Variables the user set (OMP_NUM_THREADS, ...) are not overridden, except by --threads.

That count suits work whose result does not depend on it. Training, refinement and the clustering
do depend on it (torch's and OpenBLAS's sums are laid out by thread count: 1 and 2 threads gave
822 of 1,500 labels alike), so a run computes those at a fixed count, its `compute_threads`
option (`fixed_threads`), and --threads leaves them alone.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager

DEFAULT_COMPUTE_THREADS = 2  # what the README's figures were made with; a fixed count makes them reproducible
_chosen: int | None = None  # the count configure() chose (--threads, GPUCLUST_THREADS or the free cores)
_fixed: dict | None = None  # while fixed_threads is active: what it set

# Short spins: an OpenMP thread waiting for the others spins 10,000 times (GNU; 1 ms for Intel's
# runtime) and then sleeps, instead of spinning for about 300,000 rounds. Measured here
# (benchmarks/bench_threads.py): as fast as the default alone, and a neighbour no longer
# collapses training. Fully passive waits (OMP_WAIT_POLICY=PASSIVE) cost 15 % alone.
_SHORT_SPINS = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}


# The most threads a count may ask for: more than any machine's cores, and below what the OpenMP runtimes
# survive (a count of 100,000 crashed torch's with a segmentation fault; 5,000 ran).
MAX_THREADS = 1024


def configure_before_import() -> None:
    """Short OpenMP spin-waits; must run before torch / NumPy / scikit-learn are imported."""
    for key, value in _SHORT_SPINS.items():
        os.environ.setdefault(key, value)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_cores(interval: float = 0.2) -> float:
    """Cores kept busy by other processes right now (0 where /proc/stat cannot be read)."""
    try:
        a = _cpu_times()
        mine_a = _own_cpu_seconds()
        time.sleep(interval)
        b = _cpu_times()
        mine_b = _own_cpu_seconds()
    except (OSError, ValueError, IndexError):
        return 0.0
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = (b[0] - a[0]) / hz / interval  # cores busy over the interval, ours included
    return max(0.0, busy - (mine_b - mine_a) / interval)


def reproducible(spec) -> bool:
    """Whether a compute_threads value gives the same results on every run: a fixed count, not "auto"."""
    return spec != "auto"


@contextmanager
def fixed_threads(spec=DEFAULT_COMPUTE_THREADS):
    """torch and BLAS at `spec` threads (a count, or "auto": configure()'s count) for what runs inside.

    With a fixed count torch also uses its deterministic algorithms (and cuDNN no autotuning), so the
    same options and seed give the same numbers whatever --threads and the machine's load; "auto"
    is faster where more cores are free, and its results depend on how many were. The previous
    counts and modes come back afterwards. Yields the record of what was set (see in_use()).
    """
    global _fixed
    import torch
    from threadpoolctl import threadpool_limits

    exact = reproducible(spec)
    n = int(spec) if exact else (_chosen or choose())
    if exact:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for deterministic sums
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, _fixed)
    torch.set_num_threads(n)
    torch.use_deterministic_algorithms(exact, warn_only=True)
    if exact:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    _fixed = {"compute_threads": n, "requested": spec, "mode": "reproducible" if exact else "fast"}
    try:
        with threadpool_limits(n, user_api="blas"):
            yield dict(_fixed)
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1], warn_only=True)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, _fixed = before[2:]


def in_use() -> dict:
    """The thread counts in effect now (torch, BLAS, OpenMP as threadpoolctl sees them) and the mode."""
    import sys

    out = {"threads_option": _chosen, "mode": (_fixed or {}).get("mode", "threads option")}
    if _fixed:
        out["compute_threads"] = _fixed["compute_threads"]
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            out.setdefault(pool["user_api"], {})[pool.get("internal_api", pool["prefix"])] = pool["num_threads"]
    except ImportError:
        pass
    return out


def _cpu_times():
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, idle


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def choose(requested: int | None = None) -> int:
    """Threads to use: requested, else GPUCLUST_THREADS, else free cores (at least 1)."""
    if requested:
        return min(MAX_THREADS, max(1, int(requested)))
    env = os.environ.get("GPUCLUST_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return min(MAX_THREADS, int(env))
    return max(1, usable_cores() - int(round(busy_cores())))


def configure(requested: int | None = None) -> int:
    """Choose the thread count (see the module docstring) and apply it; returns it.

    Libraries not loaded yet read it from the environment when they load (variables the
    user set win); torch and BLAS already loaded are set directly.
    """
    import sys

    global _chosen
    n = _chosen = choose(requested)
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if requested or key not in os.environ:
            os.environ[key] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(n)
        except ImportError:
            pass
    return n
