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
"""
from __future__ import annotations

import os
import time

# Short spins: an OpenMP thread waiting for the others spins 10,000 times (GNU; 1 ms for Intel's
# runtime) and then sleeps, instead of spinning for about 300,000 rounds. Measured here
# (benchmarks/bench_threads.py): as fast as the default alone, and a neighbour no longer
# collapses training. Fully passive waits (OMP_WAIT_POLICY=PASSIVE) cost 15 % alone.
_SHORT_SPINS = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}


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
        return max(1, int(requested))
    env = os.environ.get("GPUCLUST_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, usable_cores() - int(round(busy_cores())))


def configure(requested: int | None = None) -> int:
    """Choose the thread count (see the module docstring) and apply it; returns it.

    Libraries not loaded yet read it from the environment when they load (variables the
    user set win); torch and BLAS already loaded are set directly.
    """
    import sys

    n = choose(requested)
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
