#!/bin/bash
# Everything a session with a lent GPU should run, in ONE device call (a machine start costs minutes).
#
# Here, first:   bash ../shared/gpu/fetch-wheels.sh          (Dask, Dask-CUDA, ObsPy, openTSNE wheels -> .whl/)
# Then, with the device tool:  run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=600)
# Results land in $OUT (copied back) : commit them under benchmarks/results/ with the GPU's name.
# cuML is not on that machine (6 GB): K-means and t-SNE fall back to gpuclust's CuPy Lloyd and openTSNE,
# and the cuML columns of the benchmark stay empty, saying why.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -m pytest -m gpu -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu-tests.log"
python3 -m pytest -q -x -p no:cacheprovider tests/test_gmm.py tests/test_distributed.py 2>&1 | tail -3 | tee -a "$OUT/gpu-tests.log"
timeout 300 python3 benchmarks/bench_clustering.py --sizes 10000,100000,427798 --iters 10 --tsne-size 5000 \
    --out "$OUT/bench" 2>&1 | tee "$OUT/bench.txt"
timeout 200 python3 - <<'PY' 2>&1 | tee "$OUT/train-throughput.txt"
# Training throughput of both encoders on the GPU (bf16 autocast), spectrograms per second.
import time, torch, torch.nn.functional as F
from gpuclust.models import AutoEncoder, UNet
for name, make in (("ae", AutoEncoder), ("unet-all", lambda: UNet(skips="all"))):
    m = make().cuda(); opt = torch.optim.Adam(m.parameters(), 1e-3)
    for bs in (512,):
        x = torch.randn(bs, 1, 87, 100, device="cuda")
        for i in range(23):
            if i == 3: torch.cuda.synchronize(); t = time.perf_counter()
            with torch.autocast("cuda", torch.bfloat16):
                r, _ = m(x)
            loss = F.mse_loss(r.float(), x); opt.zero_grad(); loss.backward(); opt.step()
        torch.cuda.synchronize()
        print(name, "batch", bs, round(20 * bs / (time.perf_counter() - t)), "spectrograms/s")
PY
ls -la "$OUT"
