#!/bin/bash
# A short device call (about 3 minutes) for the fused EM alone: the `gpu` tests and the clustering benchmark
# (EM and K-means at 10,000 / 100,000 / 427,798 / 4,000,000 latents, the fused kernel's settings swept).
# It is gpu_session.sh with fewer steps; see that script for the set-up (.whl from fetch-wheels.sh):
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=240)
# Results come back as $OUT/gpu-session.tgz.
GPU_SESSION_STEPS=${GPU_SESSION_STEPS:-"info tests bench"} GPU_SESSION_SECONDS=${GPU_SESSION_SECONDS:-200} \
    exec bash "$(dirname "$0")/gpu_session.sh"
