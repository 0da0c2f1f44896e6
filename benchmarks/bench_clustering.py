"""EM and K-means, scikit-learn against gpuclust (NumPy; on a GPU: the array-API EM on CuPy and PyTorch, the
fused Triton EM, gpuclust's Lloyd, cuML and cuVS where importable), in one run on the same latents.

    python benchmarks/bench_clustering.py [--sizes 10000,100000,427798] [--dims 12] [--out benchmarks/results/cpu]
        [--cpu-max-n N]   CPU columns only up to N rows (scikit-learn takes seconds an iteration at 4,000,000)
        [--kernel-n N]    also sweep the fused kernel's settings at N rows, timing the iteration alone

`gpuclust bench` runs the same with its defaults; this script adds the two options above for
benchmarks/gpu_session.sh.
"""
import argparse
import os
import sys

from gpuclust.atomic import output_dir, write_json
from gpuclust.bench import bench_figure, run_bench, table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,427798")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--dims", type=int, default=12)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tsne-size", type=int, default=5000)
    ap.add_argument("--cpu-max-n", type=int)
    ap.add_argument("--kernel-n", type=int)
    ap.add_argument("--out", default="benchmarks/results/cpu")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    with output_dir(a.out):
        res = run_bench(sizes, a.k, a.dims, a.iters, a.repeats, a.tsne_size, progress=lambda m: print(m, flush=True),
                        cpu_max_n=a.cpu_max_n, kernel_n=a.kernel_n,
                        partial=lambda r: write_json(os.path.join(a.out, "bench-partial.json"), r))
        write_json(os.path.join(a.out, "bench.json"), res)
        bench_figure(res, os.path.join(a.out, "bench.png"))
    print(table(res))
    print(f"wrote {a.out}/bench.json and {a.out}/bench.png")


if __name__ == "__main__":
    sys.exit(main())
