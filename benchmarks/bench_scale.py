"""`gpuclust run`, `predict --format quakeml` and `explore` at growing sizes: seconds and peak host memory
per stage, and how each stage grows with the number of rows.

For each size N (synthetic files from `gpuclust synth -n N`, made once in --data-dir):
  run      `gpuclust run FILE --device cpu -q --no-explore` with the given epochs (shortened on the CPU:
           --epochs 1 --refine-epochs 1 by default; the defaults are 30 + 10) and, for the sizes in
           --train-rows, `--train-rows M` (the encoder trained and refined on M rows, all N encoded and
           clustered). Seconds per stage from the run's stages.json; peak memory per stage from the
           resident memory of the process tree sampled every 0.2 s and attributed to the stage the run
           was in (its "[stage] ..." lines), with the run's own high-water mark at each stage end
           (stages.json peak_rss_mb) beside it.
  explore  `gpuclust explore RUN` (the page of every event), seconds and peak memory.
  predict  the largest file labelled with the smallest size's model, `--format quakeml`.
Growth exponent of a stage between two sizes: log(t2 / t1) / log(n2 / n1) (1 = linear); for train and
refine only between sizes trained on the same number of rows.

    python benchmarks/bench_scale.py --sizes 6000,50000,100000,427798 --train-rows 427798:50000
    python benchmarks/bench_scale.py --sizes 120,240 --out x.json      # the code path only (tests)
    python benchmarks/bench_scale.py --out benchmarks/results/scale-cpu-427k.json --readme README.md   # its table

Results (written after each size, so a partial measurement survives): benchmarks/results/scale-cpu.json.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import threading
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
STAGE_LINE = re.compile(r"^\[([\w-]+)\] \.\.\.$")
TRAINING_STAGES = ("train", "refine", "dec")  # their cost follows the training rows, not N


def gpuclust(*args, threads=None) -> list:
    pre = ["--threads", str(threads)] if threads else []
    exe = os.path.join(os.path.dirname(sys.executable), "gpuclust")  # the console script of this environment
    return [exe if os.path.exists(exe) else "gpuclust", *pre, *map(str, args)]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total / 2**20


def monitored(cmd, log_path, record_path=None, interval=0.2) -> dict:
    """Run cmd; seconds, peak resident memory (MB) of its process tree, and that peak per stage: samples
    taken while the run's last "[stage] ..." line was its latest, or after the last stage ("report")."""
    t0 = time.perf_counter()
    before = load()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # its stage lines as they happen
        ps = psutil.Process(proc.pid)
        state = {"stage": "start"}
        peaks: dict = {}
        lock = threading.Lock()

        def sample(stage):
            rss = _tree_rss_mb(ps)
            with lock:
                peaks[stage] = max(peaks.get(stage, 0.0), rss)

        def read():
            for line in proc.stdout:
                log.write(line)
                log.flush()
                m = STAGE_LINE.match(line.strip())
                if m:
                    state["stage"] = m.group(1)
                    sample(m.group(1))  # every stage has a sample, however short it is

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while proc.poll() is None:
            stage = state["stage"]
            if record_path and stage != "start" and _finished(record_path, stage) and stage == "figures":
                stage = "report"
            sample(stage)
            time.sleep(interval)
        reader.join()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        with open(log_path) as fh:
            tail = fh.read()[-3000:]
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {proc.returncode}\n{tail}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(max(peaks.values(), default=0.0), 1),
            "peak_rss_mb_by_stage": {k: round(v, 1) for k, v in peaks.items()},
            "load_before": before, "load_after": load()}


def _finished(record_path, stage) -> bool:
    try:
        with open(record_path) as fh:
            return stage in json.load(fh)
    except (OSError, ValueError):
        return False


def ensure_data(n: int, data_dir: str, log_dir: str) -> tuple[str, dict | None]:
    path = os.path.join(data_dir, f"synth-{n}.h5")
    while glob.glob(path + ".*.tmp"):  # being written by another `gpuclust synth`: wait for it
        time.sleep(10)
    if os.path.exists(path):
        return path, None
    m = monitored(gpuclust("synth", "-n", n, "--seed", 0, path), os.path.join(log_dir, f"synth-{n}.log"))
    return path, {"seconds": m["seconds"], "peak_rss_mb": m["peak_rss_mb"]}


def measure_size(n, a, train_rows) -> dict:
    data, synth = ensure_data(n, a.data_dir, a.work)
    run_dir = os.path.join(a.work, f"run-{n}")
    extra = ["--train-rows", train_rows] if train_rows else []
    cmd = gpuclust("run", data, "--device", "cpu", "-q", "--no-explore", "--epochs", a.epochs,
                   "--refine-epochs", a.refine_epochs, "-o", run_dir, *extra, *shlex.split(a.run_args),
                   threads=a.threads)
    record = os.path.join(run_dir, "stages.json")
    m = monitored(cmd, os.path.join(a.work, f"run-{n}.log"), record)
    with open(record) as fh:
        stages = json.load(fh)
    with open(os.path.join(run_dir, "environment.json")) as fh:
        env = json.load(fh)
    sampled = m.pop("peak_rss_mb_by_stage")
    per_stage = {name: {"seconds": r["seconds"], "peak_rss_mb": sampled.get(name),
                        "high_water_mb_at_end": r.get("peak_rss_mb")} for name, r in stages.items()}
    d = stages["data"]["info"]
    out = {"n": n, "train_rows": train_rows or d["train"] + d["validation"] + d["test"],
           "run": {**m, "stages": per_stage}, "synth": synth,
           "threads": a.threads or "gpuclust's choice", "torch": env.get("versions", {}).get("torch"),
           "run_dir": run_dir}
    e = monitored(gpuclust("explore", run_dir, threads=a.threads), os.path.join(a.work, f"explore-{n}.log"))
    out["explore"] = {k: e[k] for k in ("seconds", "peak_rss_mb", "load_before", "load_after")}
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        met = json.load(fh)
    out["quality"] = {k: met.get(k) for k in ("ari", "nmi", "accuracy")}
    return out


def exponents(sizes: list) -> list:
    """Growth exponent of each stage (and explore) between consecutive measured sizes."""
    res = []
    for s1, s2 in zip(sizes, sizes[1:]):
        row = {"from": s1["n"], "to": s2["n"], "stages": {}}
        ratio = math.log(s2["n"] / s1["n"])
        for name, r1 in s1["run"]["stages"].items():
            r2 = s2["run"]["stages"].get(name)
            if r2 is None or r1["seconds"] <= 0 or r2["seconds"] <= 0:
                continue
            if name in TRAINING_STAGES and s1["train_rows"] != s2["train_rows"]:
                row["stages"][name] = None  # trained on a sample: not comparable
                continue
            row["stages"][name] = round(math.log(r2["seconds"] / r1["seconds"]) / ratio, 2)
        row["stages"]["explore"] = round(math.log(s2["explore"]["seconds"] / s1["explore"]["seconds"]) / ratio, 2)
        res.append(row)
    return res


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"node": platform.node(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version()}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def write(path, res) -> None:
    from gpuclust.atomic import write_json

    write_json(path, res)


def merge(paths, out) -> dict:
    """One result from several invocations: every size (the later file wins), exponents recomputed, each
    part's date and load kept."""
    parts = [json.load(open(p)) for p in paths]
    res = {**parts[0], "parts": [{k: p.get(k) for k in ("date", "uptime_before", "uptime_after", "settings")}
                                 for p in parts]}
    sizes = {s["n"]: s for p in parts for s in p["sizes"]}
    res["sizes"] = [sizes[n] for n in sorted(sizes)]
    res["not_measured"] = [m for p in parts for m in p["not_measured"]
                           if m.get("n") not in sizes]
    res["predict"] = next((p["predict"] for p in reversed(parts) if p.get("predict")), None)
    res["exponents"] = exponents(res["sizes"])
    write(out, res)
    return res


README_BEGIN, README_END = "<!-- scale table: begin -->", "<!-- scale table: end -->"
TABLE_STAGES = ("data", "train", "refine", "embed", "cluster", "tsne", "figures")


def readme_table(res) -> str:
    """Markdown: per size, seconds / peak GiB of each stage, the whole run, the explore page, and the exponents."""
    lines = ["| rows (trained on) | " + " | ".join(TABLE_STAGES) + " | whole run (peak) | explore |",
             "|---|" + "---:|" * (len(TABLE_STAGES) + 2)]
    for s in res["sizes"]:
        st = s["run"]["stages"]
        cells = [f"{st[k]['seconds']:,.1f} s / {st[k]['peak_rss_mb'] / 1024:.2f} GiB" if k in st else "-"
                 for k in TABLE_STAGES]
        lines.append(f"| {s['n']:,} ({s['train_rows']:,}) | " + " | ".join(cells)
                     + f" | {s['run']['seconds']:,.0f} s ({s['run']['peak_rss_mb'] / 1024:.2f} GiB)"
                     + f" | {s['explore']['seconds']:,.1f} s / {s['explore']['peak_rss_mb'] / 1024:.2f} GiB |")
    for e in res.get("exponents", []):
        cells = ["-" if e["stages"].get(k) is None else f"{e['stages'][k]:.2f}" for k in TABLE_STAGES]
        lines.append(f"| exponent {e['from']:,} -> {e['to']:,} | " + " | ".join(cells)
                     + f" | | {e['stages'].get('explore', float('nan')):.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="6000,50000,100000,427798")
    ap.add_argument("--train-rows", default="", help="N:M,...: at size N train on M rows (--train-rows M)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--refine-epochs", type=int, default=1)
    ap.add_argument("--run-args", default="", help="more options for `gpuclust run` (e.g. a small --k in tests)")
    ap.add_argument("--threads", type=int, default=None, help="gpuclust --threads [the run's own choice]")
    ap.add_argument("--data-dir", default=None, help="where the synthetic files are (made when missing)")
    ap.add_argument("--work", default=os.path.join("/tmp", "gpuclust-bench-scale"))
    ap.add_argument("--no-predict", action="store_true")
    ap.add_argument("--predict-size", type=int, default=None, help="the file predict labels [the largest size]")
    ap.add_argument("--keep", action="store_true",
                    help="keep the sizes already in --out (measured with the same settings) instead of rerunning them")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "scale-cpu.json"))
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="combine result files of separate invocations (sizes measured apart) into --out")
    ap.add_argument("--readme", default=None, metavar="README",
                    help="only rewrite the table between the scale-table markers of README from --out")
    a = ap.parse_args(argv)
    if a.merge:
        return merge(a.merge, a.out)
    if a.readme:
        from bench_select_k import replace_between  # benchmarks/ is on the path of a script run from it

        with open(a.out) as fh:
            replace_between(a.readme, README_BEGIN, README_END, readme_table(json.load(fh)))
        return 0
    a.data_dir = a.data_dir or a.work
    os.makedirs(a.work, exist_ok=True)
    os.makedirs(a.data_dir, exist_ok=True)
    sizes = sorted(int(s) for s in a.sizes.split(","))
    sample = {int(k): int(v) for k, v in (p.split(":") for p in a.train_rows.split(",") if p)}
    res = {"benchmark": "bench_scale", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": machine(), "uptime_before": uptime(), "threads": a.threads or "gpuclust's choice",
           "settings": {"epochs": a.epochs, "refine_epochs": a.refine_epochs, "train_rows": sample,
                        "run_args": a.run_args,
                        "note": "training shortened (the defaults are --epochs 30 --refine-epochs 10)"
                        if (a.epochs, a.refine_epochs) != (30, 10) else "defaults"},
           "sizes": [], "not_measured": []}
    kept = {}
    if a.keep and os.path.exists(a.out):
        with open(a.out) as fh:
            old = json.load(fh)
        if old.get("settings", {}).get("epochs") == a.epochs and old["settings"].get("refine_epochs") == a.refine_epochs:
            kept = {s["n"]: s for s in old.get("sizes", []) if s["train_rows"] == sample.get(s["n"], s["train_rows"])}
            res["date"], res["uptime_before"] = old["date"], old["uptime_before"]
    for n in sizes:
        if n in kept:
            res["sizes"].append(kept[n])
            continue
        try:
            res["sizes"].append(measure_size(n, a, sample.get(n)))
        except Exception as e:  # keep what was measured; say what was not
            res["not_measured"].append({"n": n, "why": str(e)[-500:]})
        res["exponents"] = exponents(res["sizes"])
        res["uptime_after"] = uptime()
        write(a.out, res)
        print(json.dumps(res["sizes"][-1] if res["sizes"] and res["sizes"][-1]["n"] == n else res["not_measured"][-1]),
              flush=True)
    if not a.no_predict and res["sizes"]:
        small, big = res["sizes"][0], a.predict_size or sizes[-1]
        data = os.path.join(a.data_dir, f"synth-{big}.h5")
        out = os.path.join(a.work, f"predict-{big}")
        try:
            p = monitored(gpuclust("predict", small["run_dir"], data, "--format", "quakeml", "--device", "cpu",
                                   "--no-explore", "-o", out, threads=a.threads),
                          os.path.join(a.work, f"predict-{big}.log"))
            res["predict"] = {"model_of": small["n"], "n": big, "format": "quakeml",
                              **{k: p[k] for k in ("seconds", "peak_rss_mb", "load_before", "load_after")}}
        except Exception as e:
            res["not_measured"].append({"predict": big, "why": str(e)[-500:]})
        res["uptime_after"] = uptime()
        write(a.out, res)
    print(json.dumps({"exponents": res.get("exponents"), "predict": res.get("predict"),
                      "not_measured": res["not_measured"]}, indent=1))
    return res


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
