"""The small measurements of benchmarks/gpu_session.sh that are not a `gpuclust` command.

    python benchmarks/gpu_session_tools.py throughput [--device cuda] [--batches 64,256,512] [--steps 20]
    python benchmarks/gpu_session_tools.py compare-labels RUN_A RUN_B        (labels.csv of two runs)
    python benchmarks/gpu_session_tools.py peak-memory NVIDIA_SMI_LOG        (MiB, from `nvidia-smi ... -lms`)
    python benchmarks/gpu_session_tools.py quality RUN...                    (metrics of runs beside the CPU default's)

Each prints one short block and, with --json PATH, writes it too. Every subcommand runs on the CPU
as well (tiny sizes), so the script is checked before GPU time is spent on it.
"""
import argparse
import csv
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def throughput(device: str, batches, steps: int) -> dict:
    """Training steps per second of the default encoder and the U-Net, spectrograms/s, bf16 autocast on a GPU.

    The learning rate is scaled with the batch as RunConfig.for_device scales it (it does not change the
    speed; it is the rate a run at that batch would use)."""
    import torch
    import torch.nn.functional as F

    from gpuclust.models import AutoEncoder, UNet

    out = {"device": device, "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name() if device == "cuda" else None, "rows": []}
    models = (("ae (default: 12-d linear latent)", lambda: AutoEncoder(latent_dim=12, latent_activation="linear")),
              ("unet-all", lambda: UNet(skips="all")))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for name, make in models:
        for bs in batches:
            torch.manual_seed(0)
            m = make().to(device)
            opt = torch.optim.Adam(m.parameters(), 1e-3 * (bs / 64) ** 0.5)
            x = torch.randn(bs, 1, 87, 100, device=device)
            for i in range(steps + 3):
                if i == 3:
                    sync()
                    t = time.perf_counter()
                with torch.autocast(device, torch.bfloat16, enabled=device == "cuda"):
                    r, _ = m(x)
                loss = F.mse_loss(r.float(), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            sync()
            rate = steps * bs / (time.perf_counter() - t)
            out["rows"].append({"model": name, "batch": bs, "spectrograms_per_s": rate})
            print(f"{name:34s} batch {bs:4d}: {rate:10.0f} spectrograms/s", flush=True)
    return out


def _labels(run_dir):
    with open(os.path.join(run_dir, "labels.csv")) as fh:
        return {int(r["row"]): int(r["cluster"]) for r in csv.DictReader(fh)}


def compare_labels(a: str, b: str) -> dict:
    from sklearn.metrics import adjusted_rand_score

    la, lb = _labels(a), _labels(b)
    rows = sorted(set(la) & set(lb))
    x, y = [la[r] for r in rows], [lb[r] for r in rows]
    out = {"rows_a": len(la), "rows_b": len(lb), "rows_both": len(rows),
           "identical": len(la) == len(lb) == len(rows) and x == y,
           "same_label_fraction": sum(p == q for p, q in zip(x, y)) / max(1, len(rows)),
           "ari": adjusted_rand_score(x, y) if rows else None}
    print(f"labels of {a} and {b}: {out['rows_both']} rows in both, identical: {out['identical']}, "
          f"ARI {out['ari']}", flush=True)
    return out


def peak_memory(log: str) -> dict:
    """The largest memory.used of an nvidia-smi log (csv, noheader, nounits), MiB."""
    values = []
    with open(log) as fh:
        for line in fh:
            try:
                values.append(float(line.strip().split(",")[0]))
            except ValueError:
                continue
    out = {"peak_mib": max(values) if values else None, "samples": len(values)}
    print(f"peak device memory: {out['peak_mib']} MiB over {out['samples']} samples", flush=True)
    return out


def quality(runs) -> dict:
    """NMI, ARI and accuracy of runs (their metrics.json) beside the CPU default's over seeds 0-2."""
    ref = json.load(open(os.path.join(ROOT, "benchmarks", "results", "quality.json")))["results"]["default"]
    out = {"cpu_default": {m: ref[m]["mean"] for m in ("nmi", "ari", "accuracy")}, "runs": {}}
    for r in runs:
        try:
            m = json.load(open(os.path.join(r, "metrics.json")))
        except (OSError, ValueError) as e:
            out["runs"][r] = {"error": str(e)}
            continue
        ext = m.get("external", m)
        out["runs"][r] = {k: ext.get(k) for k in ("nmi", "ari", "accuracy")}
    got = [v["nmi"] for v in out["runs"].values() if isinstance(v.get("nmi"), (int, float))]
    if got:
        out["nmi_mean"] = statistics.mean(got)
    print(json.dumps(out, indent=1), flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["throughput", "compare-labels", "peak-memory", "quality"])
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="64,256,512")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.what == "throughput":
        res = throughput(a.device, [int(b) for b in a.batches.split(",")], a.steps)
    elif a.what == "compare-labels":
        res = compare_labels(*a.paths)
    elif a.what == "peak-memory":
        res = peak_memory(a.paths[0])
    else:
        res = quality(a.paths)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    sys.exit(main())
