#!/bin/bash
# Everything a session with a lent GPU should run, in ONE device call (a machine start costs minutes).
#
# Here, first:   bash ../shared/gpu/fetch-wheels.sh          (Dask, Dask-CUDA, ObsPy, openTSNE wheels -> .whl/)
# Then, with the device tool:  run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=480)
# Results come back as $OUT/gpu-session.tgz: unpack and commit them under benchmarks/results/ with the GPU's name.
# cuML is not on that machine (6 GB): K-means and t-SNE fall back to gpuclust's CuPy Lloyd and openTSNE,
# and the cuML columns of the benchmark stay empty, saying why.
#
# Steps run in order of value, each under its own time limit (and all of them by 450 s), so that
# one that hangs or fails cannot take the others' results with it.
set -uo pipefail
# The device tool brings back at most 8 files: everything is written under $RES and packed into one archive.
OUT=${OUT:-/tmp/gpu-out}
RES=/tmp/gpu-session
mkdir -p "$OUT" "$RES"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
ln -sfn "$PWD/cli" /tmp/site/gpuclust_cli  # the click layer's installed name (pyproject's package-dir)
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 GPUCLUST_CACHE=/tmp/gpuclust-cache
# packed again before every step, so that a call cut short still brings back what ran
pack() { tar czf "$OUT/gpu-session.tgz.tmp" -C "$RES" . && mv "$OUT/gpu-session.tgz.tmp" "$OUT/gpu-session.tgz"; }
step() { pack; echo "== $(date -u +%T) $*" | tee -a "$RES/steps.txt"; }
deadline=$((SECONDS + ${GPU_SESSION_SECONDS:-450}))
limit() { local left=$((deadline - SECONDS)); echo $(( $1 < left ? $1 : (left > 1 ? left : 1) )); }  # a step's limit, capped by what is left

step "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RES/gpu.txt"
nproc >> "$RES/gpu.txt"

step "1. gpu-marked tests"
timeout $(limit 90) python3 -m pytest -m gpu -q -p no:cacheprovider 2>&1 | tee "$RES/gpu-tests.log"

step "2. training throughput"
timeout $(limit 45) python3 - <<'PY' 2>&1 | tee "$RES/train-throughput.txt"
# Training throughput of both encoders on the GPU (bf16 autocast), spectrograms per second.
import time, torch, torch.nn.functional as F
from gpuclust.models import AutoEncoder, UNet
print(torch.__version__, torch.cuda.get_device_name())
for name, make in (("ae", AutoEncoder), ("unet-all", lambda: UNet(skips="all"))):
    m = make().cuda(); opt = torch.optim.Adam(m.parameters(), 1e-3)
    for bs in (64, 512):
        x = torch.randn(bs, 1, 87, 100, device="cuda")
        for i in range(23):
            if i == 3: torch.cuda.synchronize(); t = time.perf_counter()
            with torch.autocast("cuda", torch.bfloat16):
                r, _ = m(x)
            loss = F.mse_loss(r.float(), x); opt.zero_grad(); loss.backward(); opt.step()
        torch.cuda.synchronize()
        print(name, "batch", bs, round(20 * bs / (time.perf_counter() - t)), "spectrograms/s")
PY

step "3. clustering benchmark (EM, K-means, t-SNE)"
timeout $(limit 150) python3 benchmarks/bench_clustering.py --sizes 10000,100000,427798 --iters 10 --tsne-size 5000 \
    --out "$RES/bench" 2>&1 | tee "$RES/bench.txt"

step "4. gpuclust run --device cuda, built-in data, seeds 0 1 2"
for seed in 0 1 2; do
    d="$RES/run-cuda-seed$seed"
    timeout $(limit 75) python3 -c "import sys; from gpuclust_cli.main import main; sys.argv[0] = 'gpuclust'; main()" \
        run --device cuda -q --seed "$seed" -o "$d" > "$d.txt" 2>&1
    echo "exit $?" >> "$d.txt"
    tail -3 "$d.txt"
    rm -rf "$d"/{checkpoints,latents.h5,gallery,report.html,labels.csv,model}  # keep metrics, stages, figures
done

step "5. estimator and Dask tests with the carried wheels"
timeout $(limit 60) python3 -m pytest -q -x -p no:cacheprovider tests/test_gmm.py tests/test_distributed.py 2>&1 \
    | tail -3 | tee -a "$RES/gpu-tests.log"
step "done"
pack && ls -la "$OUT"
