"""Training throughput alone and beside a CPU-bound neighbour, for thread settings of torch and BLAS.

Each setting runs in a fresh process (OpenMP reads its environment once, at import):
  default          torch's own choice (one thread per core, OpenMP threads spinning while they wait)
  gpuclust         what the gpuclust command sets up (gpuclust.threads): short spin-waits, threads = free cores
  one-thread       torch and BLAS at one thread
The neighbour is a process that spins on one core, as other work on a shared machine does.

    python benchmarks/bench_threads.py [--seconds 20] [--out benchmarks/results/threads.json]

With --compute, what the run's compute_threads option costs instead: training at compute threads
1, 2 (the reproducible default) and auto (the free cores, not reproducible), side by side, each
setting in a fresh process, the settings taking turns for --rounds rounds (the load drifts).

    python benchmarks/bench_threads.py --compute [--seconds 8] [--rounds 3] [--out benchmarks/results/compute_threads.json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

WORKER = r'''
import os, sys, time, json
setting = sys.argv[1]
if setting == "gpuclust" or setting.startswith("compute-"):
    from gpuclust.threads import configure_before_import, configure, fixed_threads
    configure_before_import()
import torch, torch.nn.functional as F
if setting == "one-thread":
    torch.set_num_threads(1)
elif setting == "gpuclust":
    configure()
elif setting.startswith("compute-"):  # as `gpuclust run --compute-threads N|auto` trains
    configure()
    held = fixed_threads(setting.split("-", 1)[1])  # held: a context left unreferenced would be closed
    held.__enter__()
from gpuclust.models import AutoEncoder
torch.manual_seed(0)
m = AutoEncoder(); opt = torch.optim.Adam(m.parameters(), 1e-3)
x = torch.randn(256, 1, 87, 100)
def step():
    r, _ = m(x); loss = F.mse_loss(r, x); opt.zero_grad(); loss.backward(); opt.step()
for _ in range(3): step()
t, n = time.perf_counter(), 0
while time.perf_counter() - t < float(sys.argv[2]):
    step(); n += 1
print(json.dumps({"spectrograms_per_s": n * 256 / (time.perf_counter() - t), "threads": torch.get_num_threads(),
                  "load_after": os.getloadavg()}))
'''


def spin(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


def measure(setting: str, seconds: float) -> dict:
    clean = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OPENBLAS_NUM_THREADS",
             "MKL_NUM_THREADS")
    out = subprocess.run([sys.executable, "-c", WORKER, setting, str(seconds)], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k not in clean})
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compute_threads(seconds: float, rounds: int, out: str) -> None:
    """Training throughput at compute threads 1, 2 and auto, taking turns (benchmarks/results/compute_threads.json)."""
    from gpuclust.atomic import write_json
    from gpuclust.environment import describe

    settings = ("compute-1", "compute-2", "compute-auto")
    load_before = os.getloadavg()
    runs = {s: [] for s in settings}
    for r in range(rounds):
        for s in settings:
            m = measure(s, seconds)
            runs[s].append({"spectrograms_per_s": round(m["spectrograms_per_s"], 1), "threads": m["threads"],
                            "load_after": [round(v, 2) for v in m["load_after"]]})
            print(f"round {r}: {s:>12}: {m['spectrograms_per_s']:7.1f}/s at {m['threads']} thread(s), "
                  f"load {m['load_after'][0]:.2f}", flush=True)
    base = sum(x["spectrograms_per_s"] for x in runs["compute-2"]) / rounds
    rows = [{"setting": s.replace("compute-", "--compute-threads "), "runs": v,
             "mean_per_s": round(sum(x["spectrograms_per_s"] for x in v) / rounds, 1),
             "relative_to_2": round(sum(x["spectrograms_per_s"] for x in v) / rounds / base, 3),
             "reproducible": s != "compute-auto"} for s, v in runs.items()]
    write_json(out, {"environment": describe("cpu"), "load_before": [round(v, 2) for v in load_before],
                     "load_after": [round(v, 2) for v in os.getloadavg()], "seconds_per_measure": seconds,
                     "rounds": rounds, "rows": rows,
                     "note": "autoencoder training step, batch 256, 87 x 100, CPU, each measure a fresh process; "
                             "auto takes the cores free at its start"})


def main():
    from gpuclust.environment import describe

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--compute", action="store_true", help="compute threads 1, 2 and auto instead")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.compute:
        return compute_threads(a.seconds, a.rounds, a.out or "benchmarks/results/compute_threads.json")
    a.out = a.out or "benchmarks/results/threads.json"
    rows = []
    for setting in ("default", "gpuclust", "one-thread"):
        alone = measure(setting, a.seconds)
        stop = mp.Event()
        neighbour = mp.Process(target=spin, args=(stop,))
        neighbour.start()
        time.sleep(1.0)
        try:
            busy = measure(setting, a.seconds)
        finally:
            stop.set()
            neighbour.join()
        row = {"setting": setting, "alone_per_s": round(alone["spectrograms_per_s"]),
               "beside_neighbour_per_s": round(busy["spectrograms_per_s"]),
               "threads_alone": alone["threads"], "threads_beside_neighbour": busy["threads"],
               "slowdown": round(alone["spectrograms_per_s"] / busy["spectrograms_per_s"], 2)}
        rows.append(row)
        print(f"{setting:>10}: alone {row['alone_per_s']:>5}/s ({row['threads_alone']} thr), beside a spinning "
              f"neighbour {row['beside_neighbour_per_s']:>5}/s ({row['threads_beside_neighbour']} thr): "
              f"{row['slowdown']}x slower", flush=True)
    res = {"environment": describe(), "seconds_per_measure": a.seconds, "load_before": os.getloadavg(), "rows": rows,
           "note": "autoencoder training step, batch 256, 87 x 100, CPU; the neighbour spins on one core"}
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
