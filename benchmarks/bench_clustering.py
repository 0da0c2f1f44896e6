"""EM and K-means, scikit-learn against gpuclust (NumPy; CuPy and cuML when present), one run.

    python benchmarks/bench_clustering.py [--sizes 10000,100000,427798] [--out benchmarks/results/cpu]

Equivalent to `gpuclust bench`; kept here so results are reproduced from the repository.
"""
import sys

from gpuclust_cli.commands import cli

if __name__ == "__main__":
    sys.exit(cli(["bench", *(sys.argv[1:] or ["--out", "benchmarks/results/cpu"])], prog_name="gpuclust"))
