#!/bin/bash
# Everything a session with a lent GPU (an H200 now) should run, in ONE device call of under 8 minutes.
#
# Here, first:   bash ../shared/gpu/fetch-wheels.sh     (Dask, Dask-CUDA, ObsPy, openTSNE, ... -> .whl/, 22 MB,
#                 a few seconds; Triton, PyTorch and CuPy are already there. In a git worktree, where .git is a
#                 file, the script stops at its first line: run its `pip download` line by hand instead)
# Then, with the device tool:
#     run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=480)
# Results come back as $OUT/gpu-session.tgz: unpack it and commit it under benchmarks/results/gpu-<gpu>-<date>/.
# If the call is cut short, what ran is in the archive (it is packed before every step); run the steps that
# are missing in a second call, at once while the machine is still warm (30 s; /tmp/synth-big.h5 is then still
# there, so `bigrun` needs no `synth`):
#     run(command="GPU_SESSION_STEPS='bigrun seeds' GPU_SESSION_SECONDS=280 bash benchmarks/gpu_session.sh",
#         carry=[".whl"], timeout_s=300)
# Expected on an H200 (estimates, not measured): tests 45 s, bench 100 s, train 20 s, dask 70 s, synth 30 s,
# leaving the 427,798-row run about 180 s of the 450, which may not be enough (training 30 epochs on 299,459
# rows, then 10 of refinement): plan on the second call for it.
#
# Steps, in order of value (each under its own limit, all of them by GPU_SESSION_SECONDS, 450 by default):
#   info     GPU, driver, library versions, cores
#   tests    pytest -m gpu: the fused EM against the array-API fit (float32/float64, PyTorch and CuPy), the
#            estimators on CuPy and CUDA tensors, CUDA training, `run --device cuda`
#   bench    EM per iteration at 10,000 / 100,000 / 427,798 / 4,000,000 latents, D = 12, K = 8: scikit-learn
#            on the machine's CPU, gpuclust on NumPy, the array-API EM on CuPy and on PyTorch, the fused
#            Triton EM (IEEE float32, tf32x3, no CUDA graph, CuPy, float64) and its agreement with the
#            array-API fit; the fused iteration alone over a sweep of its settings at 427,798; K-means
#            (50 Lloyd iterations) by scikit-learn, by gpuclust on CuPy and PyTorch, cuML and cuVS columns
#            (empty: neither can be installed on the lent machine, no network and several GB)
#   train    training throughput of the default encoder and the U-Net at batch 64 / 256 / 512 (bf16)
#   dask     `gpuclust run --device cuda` and `gpuclust run --dask local-cuda` on the built-in data, seed 0,
#            labels compared (the one-process run is also seed 0 of the quality check)
#   synth    the 427,798-row benchmark file made here: 16 blocks (32,768 rows) generated on the cores and
#            tiled to 427,798 rows, FOR TIMING ONLY (repeated events say nothing about quality)
#   bigrun   the default `gpuclust run --device cuda` on that file (t-SNE subsample 10,000: openTSNE runs on
#            the CPU without cuML), time per stage (stages.json) and peak device memory (nvidia-smi)
#   seeds    seeds 1 and 2 of the default run on the built-in data: quality on the GPU (batch 256, lr 2e-3)
#            against the CPU default's mean over seeds 0-2 (benchmarks/results/quality.json)
#   inference the network's pass without gradients (encoding, with and without the reconstruction errors) by
#            batch size and memory layout on the GPU in bf16 (benchmarks/bench_inference.py): on the CPU
#            channels-last at 128 rows won 2.7x, on the GPU the layout and the batch of 1,024 are unmeasured;
#            then encode_rows end to end with the next window read ahead and without
#   batch64, batch512   (not run unless named in GPU_SESSION_STEPS, for a second call) the same three seeds at
#            batch 64 and 512, the learning rate scaled by sqrt(batch / 64)
#
# GPU_SESSION_DRY=1 runs every step on the CPU at tiny sizes (no GPU, no wheels needed): a check of the
# script itself before GPU time is spent on it.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
RES=${GPU_SESSION_RES:-/tmp/gpu-session}
DRY=${GPU_SESSION_DRY:-0}
STEPS=${GPU_SESSION_STEPS:-"info tests bench train dask synth bigrun seeds inference"}
mkdir -p "$OUT" "$RES"
if [ "$DRY" != 1 ] && ls .whl/*.whl > /dev/null 2>&1; then  # (dry: this machine's own packages)
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
    ln -sfn "$PWD/cli" /tmp/site/gpuclust_cli  # the click layer's installed name (pyproject's package-dir)
    export PYTHONPATH=$PWD:/tmp/site
elif [ "$DRY" != 1 ]; then
    echo "no wheels in .whl/: run bash ../shared/gpu/fetch-wheels.sh here first (Dask-CUDA, ObsPy, openTSNE)"; exit 1
fi
export PYTHONUNBUFFERED=1 GPUCLUST_CACHE=${GPUCLUST_CACHE:-/tmp/gpuclust-cache}
pack() { tar czf "$OUT/gpu-session.tgz.tmp" -C "$RES" . && mv "$OUT/gpu-session.tgz.tmp" "$OUT/gpu-session.tgz"; }
step() { pack; echo "== $(date -u +%T) +${SECONDS}s $*" | tee -a "$RES/steps.txt"; }
deadline=$((SECONDS + ${GPU_SESSION_SECONDS:-450}))
limit() { local left=$((deadline - SECONDS)); echo $(( $1 < left ? $1 : (left > 1 ? left : 1) )); }
want() { [[ " $STEPS " == *" $1 "* ]] && [ $((deadline - SECONDS)) -gt 5 ]; }
gpuclust() { python3 -c "import sys; from gpuclust_cli.main import main; sys.argv[0] = 'gpuclust'; main()" "$@"; }
slim() { rm -rf "$1"/{checkpoints,latents.h5,gallery,report.html,model,explore.html}; }  # keep metrics, stages, labels

if [ "$DRY" = 1 ]; then
    DEV=cpu; SIZES=2000,5000; ITERS=1; REPEATS=1; BATCHES=8; TSTEPS=1; ROWS=300; DISTINCT=300; DASK=local; KERNEL_N=5000
    INFER=(--rows 256 --repeats 1 --batches 64,128 --e2e-rows 512)
    SMALL=(--synth-rows 600 --epochs 1 --refine-epochs 1 --n-init 1 --tsne-max-points 100); BIG=(--epochs 1 --refine-epochs 1)
else
    DEV=cuda; SIZES=10000,100000,427798,4000000; ITERS=10; REPEATS=3; BATCHES=64,256,512; TSTEPS=20
    ROWS=427798; DISTINCT=32768; DASK=local-cuda; KERNEL_N=427798; SMALL=(); BIG=()
    INFER=(--rows 16384 --repeats 3 --batches 128,256,1024,4096 --e2e-rows 16384)
fi

if want info; then
    step "info"
    { nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv 2>&1
      echo "cores: $(nproc)"
      python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)"
      python3 -c "import triton; print('triton', triton.__version__)" 2>&1 | tail -1
      python3 -c "import cupy; print('cupy', cupy.__version__)" 2>&1 | tail -1; } | tee "$RES/gpu.txt"
fi

if want tests; then
    step "tests: pytest -m gpu"
    timeout "$(limit 60)" python3 -m pytest -m gpu -q -p no:cacheprovider -x 2>&1 | tail -25 | tee "$RES/gpu-tests.log"
fi

if want bench; then
    step "bench: EM and K-means at $SIZES, D = 12, K = 8"
    timeout "$(limit 110)" python3 benchmarks/bench_clustering.py --sizes "$SIZES" --dims 12 --iters "$ITERS" \
        --repeats "$REPEATS" --tsne-size 0 --kernel-n "$KERNEL_N" --out "$RES/bench" 2>&1 | tee "$RES/bench.txt" \
        | tail -30
fi

if want train; then
    step "train: throughput at batch $BATCHES"
    timeout "$(limit 30)" python3 benchmarks/gpu_session_tools.py throughput --device "$DEV" --batches "$BATCHES" \
        --steps "$TSTEPS" --json "$RES/train-throughput.json" 2>&1 | tee "$RES/train-throughput.txt"
fi

if want dask; then
    step "dask: one process and --dask $DASK, built-in data, seed 0"
    d1="$RES/run-seed0"; d2="$RES/run-dask-seed0"
    timeout "$(limit 60)" gpuclust run --device "$DEV" -q --seed 0 "${SMALL[@]}" -o "$d1" > "$d1.txt" 2>&1
    echo "exit $?" >> "$d1.txt"; tail -3 "$d1.txt"
    timeout "$(limit 75)" gpuclust run --device "$DEV" --dask "$DASK" -q --seed 0 "${SMALL[@]}" -o "$d2" > "$d2.txt" 2>&1
    echo "exit $?" >> "$d2.txt"; tail -3 "$d2.txt"
    python3 benchmarks/gpu_session_tools.py compare-labels "$d1" "$d2" --json "$RES/dask-vs-one-process.json" \
        2>&1 | tee -a "$d2.txt"
    slim "$d1"; slim "$d2"
fi

if want synth; then
    step "synth: $ROWS rows, $DISTINCT generated on $(nproc) cores and tiled (for timing only)"
    timeout "$(limit 60)" python3 -c "
import sys, time
from gpuclust.data.synth import write_synthetic
t = time.perf_counter()
write_synthetic('/tmp/synth-big.h5', $ROWS, seed=0, distinct_rows=$DISTINCT)
print(f'wrote $ROWS rows ($DISTINCT distinct) in {time.perf_counter() - t:.1f} s')
" 2>&1 | tee "$RES/synth.txt"
    ls -la /tmp/synth-big.h5 >> "$RES/synth.txt" 2>&1
fi

if want bigrun && [ -f /tmp/synth-big.h5 ]; then
    step "bigrun: the default gpuclust run on $ROWS rows"
    d="$RES/run-big"
    if [ "$DRY" != 1 ]; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$RES/bigrun-memory.log" &
        smi=$!
    fi
    timeout "$(limit 400)" gpuclust run /tmp/synth-big.h5 --device "$DEV" -q --seed 0 --tsne-max-points 10000 \
        "${BIG[@]}" -o "$d" > "$d.txt" 2>&1
    echo "exit $?" >> "$d.txt"; tail -12 "$d.txt"
    if [ "$DRY" != 1 ]; then
        kill "$smi" 2>/dev/null
        python3 benchmarks/gpu_session_tools.py peak-memory "$RES/bigrun-memory.log" --json "$RES/bigrun-memory.json"
    fi
    slim "$d"; rm -f "$d/labels.csv" "$d/tsne.csv"  # 427,798 rows: tens of MB, not needed to read the run
    cat "$d/stages.json" 2>/dev/null
fi

if want seeds; then
    step "seeds: default run on the built-in data, seeds 1 2"
    for seed in 1 2; do
        d="$RES/run-seed$seed"
        timeout "$(limit 45)" gpuclust run --device "$DEV" -q --seed "$seed" "${SMALL[@]}" -o "$d" > "$d.txt" 2>&1
        echo "exit $?" >> "$d.txt"; tail -3 "$d.txt"; slim "$d"
    done
    python3 benchmarks/gpu_session_tools.py quality "$RES"/run-seed0 "$RES"/run-seed1 "$RES"/run-seed2 \
        --json "$RES/quality-gpu.json" > /dev/null 2>&1
fi

if want inference; then
    step "inference: encoding by batch and layout on $DEV"
    timeout "$(limit 60)" python3 benchmarks/bench_inference.py --device "$DEV" "${INFER[@]}" \
        --out "$RES/inference.json" 2>&1 | tee "$RES/inference.txt"
fi

for b in 64 512; do  # not in the default STEPS: for a second call, the batches the GPU default sits between
    if want "batch$b"; then
        step "batch$b: default run on the built-in data at batch $b, seeds 0 1 2"
        lr=$(python3 -c "print(1e-3 * ($b / 64) ** 0.5)")
        for seed in 0 1 2; do
            d="$RES/run-b$b-seed$seed"
            timeout "$(limit 45)" gpuclust run --device "$DEV" -q --seed "$seed" --batch-size "$b" --lr "$lr" \
                "${SMALL[@]}" -o "$d" > "$d.txt" 2>&1
            echo "exit $?" >> "$d.txt"; tail -2 "$d.txt"; slim "$d"
        done
        python3 benchmarks/gpu_session_tools.py quality "$RES"/run-b$b-seed{0,1,2} --json "$RES/quality-b$b.json" \
            > /dev/null 2>&1
    fi
done

step "done"
pack && ls -la "$OUT"
tail -20 "$RES/bench.txt" 2>/dev/null
