"""Passes without gradients on the CPU: a channels-last copy of the model, 128 rows a batch (models.precision)."""
import numpy as np
import torch

from gpuclust.data.loader import load_rows
from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.synth import write_synthetic
from gpuclust.latents.encode import encode_rows, encode_source
from gpuclust.models.autoencoder import AutoEncoder
from gpuclust.models.precision import for_inference, inference_batch
from gpuclust.models.unet import UNet


def test_the_cpu_runs_a_channels_last_copy_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = AutoEncoder((40, 48), 9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = for_inference(model, "cpu")
    conv = model.encoder_conv[2].weight
    assert copy is not model and not copy.training
    assert copy.encoder_conv[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert conv.is_contiguous() and not conv.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert for_inference(model, "cuda") is model  # elsewhere the model itself, as before
    assert inference_batch("cpu") == 128 and inference_batch("cuda") == 1024


def test_the_layout_and_batch_change_the_latents_by_rounding_only(tmp_path):
    """Against the model itself in the contiguous layout, one batch of every row: the same function."""
    write_synthetic(tmp_path / "d.h5", 300, seed=2)
    torch.manual_seed(1)
    for model in (AutoEncoder((87, 100), 9, latent_activation="linear"), UNet((87, 100), 9)):
        model.eval()
        with open_spectrograms(tmp_path / "d.h5") as sf:
            rows = np.arange(300)
            z, err = encode_rows(model, sf, rows, errors=True)  # 128 rows a batch, channels last
            x = torch.from_numpy(load_rows(sf, rows)).unsqueeze(1)
        assert all(p.is_contiguous() for p in model.parameters())
        with torch.no_grad():
            recon, z_ref = model(x)[:2]
        err_ref = ((recon - x) ** 2).flatten(1).mean(dim=1)
        assert torch.allclose(z, z_ref, rtol=1e-5, atol=1e-5)
        assert torch.allclose(err, err_ref, rtol=1e-5, atol=1e-7)


def test_encoding_a_training_source_mid_training_leaves_the_model_to_train_on(tmp_path):
    """Refinement encodes its source between epochs: the model it goes on training keeps its own layout."""
    from gpuclust.training.sources import InMemory

    write_synthetic(tmp_path / "d.h5", 50, seed=2)
    torch.manual_seed(0)
    model = AutoEncoder((87, 100), 9).train()
    with open_spectrograms(tmp_path / "d.h5") as sf:
        source = InMemory(sf, np.arange(50), "log-aligned", "cpu")
    z = encode_source(model, source, "cpu")
    with torch.no_grad():
        z_ref = model.eval().encode(source.x).numpy()
    assert z.shape == (50, 9) and np.allclose(z, z_ref, rtol=1e-5, atol=1e-6)
    assert all(p.is_contiguous() for p in model.parameters())
