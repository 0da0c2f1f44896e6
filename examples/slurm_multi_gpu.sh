#!/bin/bash
# gpuclust on several GPU nodes through one Dask scheduler (SLURM).
#
#   sbatch examples/slurm_multi_gpu.sh /path/to/RIS.h5
#
# Node 0 runs the Dask scheduler; every node runs one `dask cuda worker`, which
# starts one worker per visible GPU. gpuclust then connects through the
# scheduler file: each worker reads and encodes its own slice of the HDF5 file
# on its own GPU, and the Gaussian mixture runs on the partitioned latents.
# The HDF5 file must be on a filesystem every node can read.
#SBATCH --job-name=gpuclust
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=02:00:00
#SBATCH --output=gpuclust-%j.log
set -euo pipefail

DATA=${1:?usage: sbatch slurm_multi_gpu.sh RIS.h5}
RUN_DIR=${RUN_DIR:-runs/slurm-$SLURM_JOB_ID}
SCHED=$PWD/dask-scheduler-$SLURM_JOB_ID.json

# Environment: `conda env create -f environment.yml` once, then activate it here.
# source activate gpuclust

# 1. The scheduler, on the first node.
srun --nodes=1 --ntasks=1 --nodelist="$(hostname)" \
    dask scheduler --scheduler-file "$SCHED" --no-dashboard &
while [ ! -f "$SCHED" ]; do sleep 1; done

# 2. One dask-cuda worker process per node (it starts a worker per GPU).
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 \
    dask cuda worker --scheduler-file "$SCHED" &
sleep 20  # let the workers register

# 3. The run itself, from the first node: training on its GPU, encoding and clustering on all of them.
gpuclust run "$DATA" --device cuda --dask "$SCHED" --k 8 --method gmm -q -o "$RUN_DIR"

# The run directory holds labels.csv (joined with the catalogue), metrics.json and report.html.
kill %1 %2 || true
