"""Portable mode's promise, checked: one small `gpuclust --portable run` and the SHA-256 of what it produced.

--write records the run's digests (the encoder's latents, labels.csv, the t-SNE map) with the CPU and the
package versions that made them; --check runs the same command here and compares. The digests can only hold
for the same versions of the libraries that compute (torch, NumPy, scikit-learn, openTSNE, h5py, SciPy):
where one differs the check says so and exits 3 (nothing was compared), where they agree and a digest does not
it exits 1. A second type of CPU giving the same digests is the evidence that the pins are enough; the first
reference was written on the 2-core AMD EPYC VM (benchmarks/results/portable-reference.json).

    python benchmarks/portable_reference.py --check benchmarks/results/portable-reference.json [--out FILE]
    python benchmarks/portable_reference.py --write benchmarks/results/portable-reference.json
    python benchmarks/portable_reference.py --sensitivity benchmarks/results/portable-sensitivity-amd-epyc.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

SMALL = ["--synth-rows", "400", "--epochs", "2", "--refine-epochs", "1", "--k", "4", "--n-init", "1",
         "--tsne-max-points", "100", "--device", "cpu", "-q", "--no-explore"]
VERSIONED = ("torch", "numpy", "scikit-learn", "openTSNE", "h5py", "scipy")
OUTPUTS = ("labels.csv", "tsne.csv")
SAME, DIFFERENT, NOT_COMPARABLE = 0, 1, 3


def run_small(out_dir: str, cache: str, extra_env: dict | None = None, portable: bool = True) -> None:
    """The command in a fresh process (the pins are read when the libraries load), with the user's own
    thread settings removed as the reproducibility test does; extra_env is set for it on top."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "GPUCLUST_THREADS")}
    env.update(extra_env or {}, GPUCLUST_CACHE=cache)
    r = subprocess.run([sys.executable, "-c", "from gpuclust_cli.main import main; main()",
                        *(["--portable"] if portable else []), "run",
                        *SMALL, "-o", out_dir], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"the run failed (exit {r.returncode}): {(r.stdout + r.stderr).strip()[-500:]}")


def digests(run_dir: str, cache: str) -> dict:
    """SHA-256 of the built-in data the run made (its spectrograms), the latents, the labels and the map."""
    import glob

    import h5py
    import numpy as np

    from gpuclust.latents import load_latents

    data = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(cache, "synthetic-*.h5"))):
        with h5py.File(path) as f:
            data.update(np.ascontiguousarray(f["4.0/Spectrogram"][:]).tobytes())
    z = load_latents(os.path.join(run_dir, "latents.h5")).z
    out = {"data": data.hexdigest(), "latents": hashlib.sha256(z.tobytes()).hexdigest()}
    for name in OUTPUTS:
        with open(os.path.join(run_dir, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def versions() -> dict:
    """This Python's versions of the packages that compute (the child runs in the same one)."""
    from gpuclust.environment import package_version

    return {p: package_version(p) for p in VERSIONED}


def measure(extra_env: dict | None = None, portable: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        cache = os.path.join(tmp, "cache")
        run_small(run_dir, cache, extra_env, portable)
        with open(os.path.join(run_dir, "environment.json")) as f:
            env = json.load(f)
        command = "gpuclust " + ("--portable " if portable else "") + "run " + " ".join(SMALL)
        return {"command": command, "digests": digests(run_dir, cache),
                "cpu": env["cpu"], "versions": versions(),
                "date": env["date"], "machine": env["machine"]}


# Each library pinned, one at a time, to another code path than it would choose on an AVX2 CPU (the 2-core AMD
# VM's): whether the result of the run without --portable changes shows which choices portable mode must pin.
OTHER_PATHS = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": ["COMPATIBLE", "AVX2",
               "SSE4_2"], "OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": "X86_V3"}


def sensitivity() -> dict:
    """The run without --portable as the libraries choose, then under each pin of OTHER_PATHS."""
    base = measure(portable=False)
    rows = []
    for var, values in OTHER_PATHS.items():
        for value in values if isinstance(values, list) else [values]:
            got = measure({var: value}, portable=False)
            rows.append({"pin": f"{var}={value}", "changed": [k for k, v in base["digests"].items()
                                                              if got["digests"][k] != v]})
            print(f"{var}={value}: {', '.join(rows[-1]['changed']) or 'the same'}", flush=True)
    return {"command": base["command"], "cpu": base["cpu"], "versions": base["versions"], "date": base["date"],
            "digests": base["digests"], "pins": rows}


def compare(reference: dict, here: dict) -> tuple[int, str]:
    """The check's exit code and its one line."""
    changed = {p: (reference["versions"].get(p), v) for p, v in here["versions"].items()
               if reference["versions"].get(p) != v}
    if changed:
        return NOT_COMPARABLE, "not comparable, other versions: " + ", ".join(
            f"{p} {a} (reference) against {b}" for p, (a, b) in changed.items())
    wrong = [k for k, v in reference["digests"].items() if here["digests"].get(k) != v]
    where = f"{here['cpu'].get('model')} here, {reference['cpu'].get('model')} for the reference"
    if wrong:
        return DIFFERENT, f"DIFFERENT: {', '.join(wrong)} ({where})"
    return SAME, f"identical: {', '.join(reference['digests'])} ({where})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="FILE", help="record this machine's digests as the reference")
    mode.add_argument("--check", metavar="FILE", help="compare this machine's digests with the reference")
    mode.add_argument("--sensitivity", metavar="FILE", help="which libraries' code paths change the run's bits "
                      "without --portable: each pinned in turn (OTHER_PATHS), written here")
    ap.add_argument("--out", help="with --check: also write this machine's digests and the verdict here")
    a = ap.parse_args(argv)
    from gpuclust.atomic import ensure_writable_file, write_json
    from gpuclust.errors import GpuclustError

    try:
        for flag in ("write", "out", "sensitivity"):
            if getattr(a, flag):
                ensure_writable_file(getattr(a, flag), f"--{flag}")
        reference = None
        if a.check:
            with open(a.check) as f:
                reference = json.load(f)
    except (GpuclustError, OSError, ValueError) as e:
        ap.error(str(e))
    if a.sensitivity:
        write_json(a.sensitivity, sensitivity())
        return SAME
    here = measure()
    if a.write:
        write_json(a.write, here)
        print(f"wrote {a.write}: {here['cpu'].get('model')}, " + ", ".join(f"{k} {v[:12]}" for k, v in
                                                                         here["digests"].items()))
        return SAME
    code, line = compare(reference, here)
    if a.out:
        write_json(a.out, {**here, "reference": a.check, "verdict": line})
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
