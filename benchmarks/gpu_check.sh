#!/bin/bash
# A short device call (about 4 minutes) for a session that already has gpu_session.sh's baseline:
# the `gpu` tests (CuPy and PyTorch CUDA estimators, CUDA training, run --device cuda), the clustering
# benchmark with the PyTorch-CUDA column, and one default `gpuclust run --device cuda` on the built-in data.
#
#   bash ../shared/gpu/fetch-wheels.sh   then   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"])
# Results come back as $OUT/gpu-check.tgz.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
RES=/tmp/gpu-check
mkdir -p "$OUT" "$RES"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
ln -sfn "$PWD/cli" /tmp/site/gpuclust_cli
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 GPUCLUST_CACHE=/tmp/gpuclust-cache
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-230}))
pack() { tar czf "$OUT/gpu-check.tgz.tmp" -C "$RES" . && mv "$OUT/gpu-check.tgz.tmp" "$OUT/gpu-check.tgz"; }  # after every step: a cut-off call still returns what ran
limit() { local left=$((deadline - SECONDS)); echo $(( $1 < left ? $1 : (left > 1 ? left : 1) )); }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RES/gpu.txt"
echo "== gpu tests" | tee -a "$RES/steps.txt"
timeout $(limit 100) python3 -m pytest -m gpu -q -p no:cacheprovider 2>&1 | tail -15 | tee "$RES/gpu-tests.log"; pack
echo "== default run on the GPU" | tee -a "$RES/steps.txt"
timeout $(limit 70) python3 -c "import sys; from gpuclust_cli.main import main; sys.argv[0] = 'gpuclust'; main()" \
    run --device cuda -q --seed 0 -o "$RES/run-cuda-seed0" > "$RES/run-cuda-seed0.txt" 2>&1
echo "exit $?" >> "$RES/run-cuda-seed0.txt"; tail -3 "$RES/run-cuda-seed0.txt"
rm -rf "$RES/run-cuda-seed0"/{checkpoints,latents.h5,gallery,report.html,labels.csv,model}; pack
echo "== clustering benchmark" | tee -a "$RES/steps.txt"
timeout $(limit 120) python3 benchmarks/bench_clustering.py --sizes 10000,100000,427798 --iters 10 --tsne-size 0 \
    --out "$RES/bench" 2>&1 | tail -8 | tee "$RES/bench.txt"
pack && ls -la "$OUT"
