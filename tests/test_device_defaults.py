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


def test_a_run_resumed_on_another_device_keeps_the_batch_and_rate_it_started_with(tmp_path):
    """Regression: started on a GPU (batch 256, lr 2e-3 by default) and resumed on the CPU, training went
    on from its last checkpoint at batch 64 and lr 1e-3."""
    import json

    from gpuclust.pipeline.run import _keep_device_defaults

    class Dir:
        def file(self, *parts):
            return str(tmp_path.joinpath(*parts))

    json.dump(make_config(None).for_device("cuda").as_dict(), open(tmp_path / "config.json", "w"))
    resumed = make_config(None)
    _keep_device_defaults(resumed, Dir())
    assert (resumed.for_device("cpu").batch_size, resumed.lr) == (256, 2e-3)
    given = make_config(None, batch_size=32)  # what the user gives still wins
    _keep_device_defaults(given, Dir())
    assert (given.for_device("cpu").batch_size, given.lr) == (32, 2e-3)
