"""Training options left unset take the device's defaults; options given are kept as given."""
import pytest

from gpuclust.pipeline.config import GPU_BATCH_SIZE, make_config


def test_a_gpu_trains_on_larger_batches_with_the_rate_scaled():
    gpu, cpu = make_config(None).for_device("cuda"), make_config(None).for_device("cpu")
    assert (cpu.batch_size, cpu.lr) == (64, 1e-3)  # the CPU default, unchanged
    assert gpu.batch_size == GPU_BATCH_SIZE > 64
    assert gpu.lr == pytest.approx(1e-3 * (GPU_BATCH_SIZE / 64) ** 0.5)


def test_options_given_are_not_overridden():
    assert make_config(None, batch_size=32).for_device("cuda").lr == 1e-3
    c = make_config(None, batch_size=512, lr=5e-4).for_device("cuda")
    assert (c.batch_size, c.lr) == (512, 5e-4)
