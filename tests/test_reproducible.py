"""The same `gpuclust run` gives the same results whatever --threads says and however busy the machine is."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gpuclust.errors import GpuclustError
from gpuclust.latents import load_latents
from gpuclust.pipeline.config import make_config

SMALL = ["--synth-rows", "400", "--epochs", "1", "--refine-epochs", "1", "--k", "4", "--n-init", "1",
         "--tsne-max-points", "100", "--device", "cpu", "-q", "--no-explore"]


def gpuclust(*args, cache):
    """The installed command in a fresh process: the OpenMP runtimes read their thread settings at import."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "GPUCLUST_THREADS")}
    env["GPUCLUST_CACHE"] = str(cache)
    r = subprocess.run([sys.executable, "-c", "from gpuclust_cli.main import main; main()", *map(str, args)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.mark.slow
def test_one_and_two_threads_give_identical_labels(tmp_path):
    """1 and 2 threads used to agree on 822 of 1,500 labels; the compute threads are now the run's own option."""
    for n in (1, 2):
        gpuclust("--threads", n, "run", *SMALL, "-o", tmp_path / f"t{n}", cache=tmp_path / "cache")
    one, two = ((tmp_path / f"t{n}" / "labels.csv").read_bytes() for n in (1, 2))
    assert one == two
    z1, z2 = (load_latents(tmp_path / f"t{n}" / "latents.h5").z for n in (1, 2))
    assert np.array_equal(z1, z2)  # the encoder's weights too, not only labels that happen to agree
    for n in (1, 2):
        env = json.loads((tmp_path / f"t{n}" / "environment.json").read_text())
        cfg = json.loads((tmp_path / f"t{n}" / "config.json").read_text())
        assert env["threads"]["threads_option"] == n and env["threads"]["torch"] == 2
        assert env["threads"]["mode"] == "reproducible" and env["device"] == "cpu"
        assert cfg["compute_threads"] == 2 and cfg["reproducible"] is True
        assert env["cpu"]["model"] and env["cpu"]["torch_isa"]  # what "the same type of CPU" means


def test_compute_threads_auto_says_it_is_not_reproducible():
    fast = make_config(None, compute_threads="auto").record()
    assert fast["reproducible"] is False and "auto" in fast["reproducible_note"]
    assert make_config(None, compute_threads="3").compute_threads == 3
    assert make_config(None).record()["reproducible"] is True
    for bad in ("0", "many"):
        with pytest.raises(GpuclustError, match="compute_threads"):
            make_config(None, compute_threads=bad)


def test_fixed_threads_sets_and_restores_torch_and_blas():
    import torch
    from threadpoolctl import threadpool_info

    from gpuclust.environment import describe
    from gpuclust.threads import fixed_threads

    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with fixed_threads(1) as used:
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
        assert used["mode"] == "reproducible" and describe("cpu")["threads"]["compute_threads"] == 1
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


def test_the_cpu_type_and_any_pinned_code_paths_are_recorded(monkeypatch):
    import torch  # the instruction set is recorded where torch is loaded

    from gpuclust.environment import cpu_type

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert "pinned" not in cpu_type() or "ONEDNN_MAX_CPU_ISA" not in cpu_type()["pinned"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    cpu = cpu_type()
    assert cpu["model"] and cpu["pinned"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert cpu["torch_isa"] == torch.backends.cpu.get_cpu_capability()
