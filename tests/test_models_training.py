"""Encoders, training with checkpoints and resume, DEC, and the zero-copy latent hand-off."""
import json

import numpy as np
import pytest
import torch

from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.splits import make_splits
from gpuclust.errors import GpuclustError
from gpuclust.latents.encode import encode_rows
from gpuclust.latents.handoff import to_array
from gpuclust.models import AutoEncoder, UNet, build_model
from gpuclust.models.dec import DEC, soft_assignment, target_distribution
from gpuclust.training.checkpoint import load_checkpoint, load_model
from gpuclust.training.dec import assign_all, kl_pq, train_dec
from gpuclust.training.sources import InMemory, Streamed
from gpuclust.training.trainer import TrainConfig, train_autoencoder


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_reference_autoencoder_has_218250_parameters():
    assert n_params(AutoEncoder((87, 100), 9)) == 218_250


@pytest.mark.parametrize("hw", [(87, 100), (64, 64), (30, 41), (40, 33)])
@pytest.mark.parametrize("make", [lambda hw: AutoEncoder(hw, 5), lambda hw: UNet(hw, 5, skips="all"),
                                  lambda hw: UNet(hw, 5, skips="none"), lambda hw: UNet(hw, 5, skips="no_full")])
def test_shapes_for_several_input_sizes(hw, make):
    m = make(hw)
    recon, z = m(torch.randn(3, 1, *hw))
    assert recon.shape == (3, 1, *hw) and z.shape == (3, 5)


def test_too_small_input_and_bad_options():
    with pytest.raises(GpuclustError, match="too small"):
        AutoEncoder((20, 20))
    with pytest.raises(GpuclustError, match="too small"):
        UNet((10, 10))
    with pytest.raises(GpuclustError, match="skip setting"):
        UNet(skips="some")


def test_unet_without_skips_cannot_bypass_the_bottleneck():
    """With skips, the decoder output depends on the input beyond the latent; without, only on the latent."""
    torch.manual_seed(0)
    for skips, depends in (("all", True), ("none", False)):
        m = UNet((32, 32), 4, skips=skips).eval()
        x = torch.randn(1, 1, 32, 32)
        z, sk = m._encode(x)
        other = [s + torch.randn_like(s) for s in sk]
        a = m.decode(z, sk if m.use_skip[0] else None)
        b = m.decode(z, other if m.use_skip[0] else None)
        assert (not torch.allclose(a, b)) == depends


def sources(path, device="cpu", streamed=False):
    sf = open_spectrograms(path)
    sp = make_splits(np.arange(sf.n_rows), (0.7, 0.2, 0.1), seed=0)
    cls = Streamed if streamed else InMemory
    return sf, sp, cls(sf, sp.train, "l2", device), cls(sf, sp.val, "l2", device)


def test_training_lowers_validation_loss_and_uses_the_learning_rate(synth_file, tmp_path):
    _, _, tr, va = sources(synth_file)
    torch.manual_seed(0)
    model = AutoEncoder()
    hist = train_autoencoder(model, tr, va, TrainConfig(epochs=3, batch_size=64, lr=2e-3, quiet=True), tmp_path)
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    assert all(h["lr"] == 2e-3 for h in hist)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["optimizer"]["param_groups"][0]["lr"] == 2e-3
    assert json.load(open(tmp_path / "history.json"))[-1]["epoch"] == 3
    assert (tmp_path / "best.pt").exists()


def test_streamed_and_in_memory_sources_give_the_same_rows(synth_file):
    _, sp, mem, _ = sources(synth_file)
    _, _, st, _ = sources(synth_file, streamed=True)
    got_m = {int(mem.rows[p]): x[0, 0, :3].clone() for pos, xb in mem.batches(100, False) for p, x in zip(pos, xb)}
    for pos, xb in st.batches(100, shuffle=True, seed=1):
        for p, x in zip(pos, xb):
            torch.testing.assert_close(got_m[int(st.rows[p])], x[0, 0, :3])


def test_resume_after_interruption_equals_uninterrupted_run(synth_file, tmp_path):
    _, _, tr, va = sources(synth_file)
    cfg = TrainConfig(epochs=3, batch_size=128, quiet=True, seed=4)

    def stop_after_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    a = AutoEncoder()
    train_autoencoder(a, tr, va, cfg, tmp_path / "a")
    torch.manual_seed(0)
    b = AutoEncoder()
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(b, tr, va, cfg, tmp_path / "b", on_epoch_end=stop_after_two)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 2  # no finished epoch lost
    c = AutoEncoder()  # initial weights differ: everything must come from the checkpoint
    hist = train_autoencoder(c, tr, va, cfg, tmp_path / "b", resume=True)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    for (ka, va_), (kc, vc) in zip(a.state_dict().items(), c.state_dict().items()):
        torch.testing.assert_close(va_, vc, msg=ka)


def test_checkpoint_errors(synth_file, tmp_path):
    _, _, tr, va = sources(synth_file)
    train_autoencoder(AutoEncoder(), tr, va, TrainConfig(epochs=1, quiet=True), tmp_path)
    with pytest.raises(GpuclustError, match="different model or input size"):
        train_autoencoder(AutoEncoder(latent_dim=4), tr, va, TrainConfig(epochs=2, quiet=True), tmp_path,
                          resume=True)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GpuclustError, match="not a gpuclust checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    model, _ = load_model(tmp_path / "best.pt")
    assert isinstance(model, AutoEncoder)
    empty = InMemory(open_spectrograms(synth_file), [], "l2", "cpu")
    with pytest.raises(GpuclustError, match="training split is empty"):
        train_autoencoder(AutoEncoder(), empty, va, TrainConfig(epochs=1, quiet=True), tmp_path / "e")


def test_nan_loss_stops_with_epoch_and_keeps_last_good_checkpoint(synth_file, tmp_path):
    _, _, tr, va = sources(synth_file)
    model = AutoEncoder()
    train_autoencoder(model, tr, va, TrainConfig(epochs=1, quiet=True), tmp_path)
    good = load_checkpoint(tmp_path / "last.pt")["epoch"]
    with torch.no_grad():
        model.to_latent[1].weight.fill_(float("nan"))
    with pytest.raises(GpuclustError, match="became nan at epoch 1"):
        train_autoencoder(model, tr, va, TrainConfig(epochs=1, quiet=True), tmp_path / "nan")
    assert not (tmp_path / "nan" / "last.pt").exists()
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == good


def test_dec_lowers_kl_on_a_toy_problem(synth_file, tmp_path):
    torch.manual_seed(0)
    _, _, tr, _ = sources(synth_file)
    ae = AutoEncoder(latent_activation="linear")  # a ReLU latent can be all dead after one epoch: Q uniform = P
    from gpuclust.training.trainer import train_autoencoder as t

    t(ae, tr, tr, TrainConfig(epochs=1, quiet=True), tmp_path)
    # Latents of unit spread: spread far apart (how far depends on the thread count), every q is one-hot,
    # equal to its target, and KL is 0 before DEC starts.
    with torch.no_grad():
        z = torch.cat([ae.encode(x) for _, x in tr.batches(256, False)])
        ae.to_latent[1].weight /= z.std()
        ae.to_latent[1].bias /= z.std()
    z = torch.cat([ae.encode(x).detach() for _, x in tr.batches(256, False)])
    centres = z[torch.randperm(len(z))[:4]]
    dec = DEC(ae, centres)
    q0 = assign_all(dec, tr, "cpu")
    kl0 = float(kl_pq(target_distribution(q0), q0))
    hist = train_dec(dec, tr, max_epochs=3, tol=0.0, quiet=True, batch_size=128)
    q1 = assign_all(dec, tr, "cpu")
    # DEC sharpens the soft assignments towards its targets: more confident, closer to P.
    assert float(q1.max(dim=1).values.mean()) > float(q0.max(dim=1).values.mean())
    assert min(h["kl"] for h in hist[1:]) < kl0


def test_soft_assignment_rows_sum_to_one_and_target_sharpens():
    z, c = torch.randn(50, 3), torch.randn(4, 3)
    q = soft_assignment(z, c)
    torch.testing.assert_close(q.sum(1), torch.ones(50))
    p = target_distribution(q)
    assert (p.max(1).values >= q.max(1).values - 1e-6).float().mean() > 0.9


def test_latents_hand_off_to_numpy_without_a_copy(synth_file):
    sf = open_spectrograms(synth_file)
    model = build_model({"arch": "ae", "input_shape": [87, 100], "latent_dim": 9, "channels": [8, 16, 32, 64, 128]})
    z = encode_rows(model, sf, np.arange(0, 300, 3), batch_size=32)
    arr = to_array(z)
    assert isinstance(arr, np.ndarray) and arr.shape == (100, 9) and arr.dtype == np.float32
    assert arr.ctypes.data == z.data_ptr()  # the same memory
    z[0, 0] = 123.0
    assert arr[0, 0] == 123.0


@pytest.mark.gpu
def test_latents_hand_off_to_cupy_without_a_copy():
    import cupy

    z = torch.arange(12, dtype=torch.float32, device="cuda").reshape(4, 3)
    arr = to_array(z)
    assert isinstance(arr, cupy.ndarray) and arr.data.ptr == z.data_ptr()
    z[0, 0] = 7.0
    torch.cuda.synchronize()
    assert float(arr[0, 0]) == 7.0


def linear_ae_trained_two_epochs(synth_file, out_dir):
    """A linear-latent autoencoder trained 2 epochs on log input, with its training and validation sources."""
    sf = open_spectrograms(synth_file)
    sp = make_splits(np.arange(sf.n_rows), (0.7, 0.2, 0.1), seed=0)
    tr, va = InMemory(sf, sp.train, "log", "cpu"), InMemory(sf, sp.val, "log", "cpu")
    torch.manual_seed(0)
    model = AutoEncoder(latent_activation="linear")
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.to_latent)
    train_autoencoder(model, tr, va, TrainConfig(epochs=2, quiet=True), out_dir)
    return model, tr, va


def test_a_linear_latent_has_no_dead_units_after_training(synth_file, tmp_path):
    """The reference's final ReLU leaves latent units stuck at zero; a linear latent layer cannot."""
    model, tr, _ = linear_ae_trained_two_epochs(synth_file, tmp_path)
    z = torch.cat([model.encode(x).detach() for _, x in tr.batches(256, False)])
    assert (z.std(dim=0) > 1e-4).all() and (z < 0).any()


def test_the_mixture_objective_trains_and_tightens_the_clusters(synth_file, tmp_path):
    from gpuclust.training.mixture import refine

    model, tr, va = linear_ae_trained_two_epochs(synth_file, tmp_path)
    hist = refine(model, tr, 8, "cpu", epochs=3, gamma=10.0, seed=0, n_init=2, out_dir=tmp_path, quiet=True)
    assert len(hist) == 4 and all(np.isfinite(h["reconstruction"]) for h in hist[1:])
    assert hist[-1]["kl"] < hist[1]["kl"]  # the clustering loss falls
    # while reconstruction keeps the latent from collapsing: it stays near what the autoencoder reached
    from gpuclust.training.trainer import evaluate

    assert evaluate(model, va, 256, "cpu") < 2 * hist[1]["reconstruction"]
    assert (tmp_path / "refined.pt").exists()


def test_a_diverging_refinement_says_lower_the_learning_rate(synth_file, tmp_path):
    """Regression: the mixture was refitted on NaN latents before the divergence check, and the user read
    scikit-learn's complaint about its input as an internal error instead of this advice."""
    from gpuclust.training.mixture import refine

    model, tr, _ = linear_ae_trained_two_epochs(synth_file, tmp_path)
    with pytest.raises(GpuclustError, match="diverged at epoch 1; try a lower --lr"):
        refine(model, tr, 4, "cpu", epochs=2, gamma=10.0, lr=1e12, seed=0, n_init=1, quiet=True)


class _Toy:
    """A training source of 40 two-feature samples (positions, tensors), as the sources give them."""

    def __init__(self):
        self.x = torch.linspace(-1, 1, 80).reshape(40, 2)

    def __len__(self):
        return len(self.x)

    def batches(self, batch_size, shuffle, seed=0):
        order = np.random.default_rng(seed).permutation(len(self.x)) if shuffle else np.arange(len(self.x))
        for i in range(0, len(order), batch_size):
            pos = order[i:i + batch_size]
            yield pos, self.x[pos]


def test_the_loop_checks_divergence_before_the_objective_ends_its_epoch():
    """The loop's order, for every objective: a non-finite loss stops with the objective's advice before its
    end of epoch (a mixture refit, a checkpoint) sees diverged weights; after_step can end an epoch early."""
    from gpuclust.training.loop import Objective, run_epochs

    class Probe(Objective):
        def __init__(self, blow_up_at):
            self.blow_up_at, self.ended, self.steps = blow_up_at, [], []

        def loss(self, out, pos, x):
            loss = ((out - x) ** 2).mean()
            if len(self.ended) + 1 == self.blow_up_at:
                loss = loss * float("nan")
            return loss, {"mse": loss}

        def after_step(self, model, step):
            self.steps.append(step)
            return step == 2  # end each epoch after two of its four batches

        def diverged(self, epoch):
            return GpuclustError(f"probe diverged at epoch {epoch.number}; try a lower --lr")

        def end_epoch(self, model, epoch):
            self.ended.append((epoch.number, epoch.seen, epoch.means["mse"]))

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ok = Probe(blow_up_at=None)
    run_epochs(model, _Toy(), ok, opt, epochs=3, batch_size=10, seed=0, device="cpu", quiet=True)
    assert [(e, seen) for e, seen, _ in ok.ended] == [(1, 20), (2, 20), (3, 20)] and ok.steps == [1, 2] * 3
    assert all(np.isfinite(m) for _, _, m in ok.ended)
    bad = Probe(blow_up_at=2)
    with pytest.raises(GpuclustError, match="diverged at epoch 2; try a lower --lr"):
        run_epochs(model, _Toy(), bad, opt, epochs=3, batch_size=10, seed=0, device="cpu", quiet=True)
    assert [e for e, _, _ in bad.ended] == [1]  # epoch 2 never reached its end
