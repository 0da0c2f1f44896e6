"""The novelty scores: ranks read from stored quantiles, and Fisher's combination of two of them."""
import numpy as np
import pytest

from gpuclust.clustering import novelty
from gpuclust.errors import GpuclustError


def test_ranks_from_the_quantiles_are_the_reference_share_at_or_below():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    values = np.concatenate([rng.normal(size=2000), [-9.0, 9.0]])
    empirical = np.searchsorted(np.sort(ref), values, side="right") / ref.size
    got = novelty.rank(novelty.reference_quantiles(ref), values)
    assert np.abs(got - empirical).max() <= 2 / ref.size
    assert got[-2] == 0.0 and got[-1] == 1.0


def test_the_combined_score_flags_an_event_atypical_in_either_way_or_moderately_in_both():
    rng = np.random.default_rng(1)
    ll, err = rng.normal(size=20000), rng.gamma(4.0, size=20000)  # independent, as a known event's two scores
    lq, rq = novelty.reference_quantiles(ll), novelty.reference_quantiles(-err)
    limit = novelty.threshold(novelty.reference_quantiles(novelty.combined_scores(ll, err, lq, rq)), 1.0)
    assert limit == pytest.approx(-6.638, abs=0.15)  # a sum of two log-uniforms is below -6.638 1 % of the time

    def at(p_ll, p_err):  # an event at these percentiles of the two scores
        e = np.quantile(err, 1 - p_err / 100)
        return novelty.combined_scores([np.quantile(ll, p_ll / 100)], [e], lq, rq)

    flagged = lambda s: bool(novelty.flags(s, limit)[0])  # noqa: E731
    assert flagged(at(0.2, 50)) and flagged(at(50, 0.2))  # far out in one way
    assert flagged(at(3, 3)) and not flagged(at(3, 50)) and not flagged(at(50, 3))  # moderately in both
    assert flagged(novelty.combined_scores([np.nan], [1.0], lq, rq))  # NaN is never typical
    worse = novelty.combined_scores([-1.0, -1.0, -2.0], [4.0, 8.0, 4.0], lq, rq)
    assert worse[1] < worse[0] and worse[2] < worse[0]  # lower likelihood or larger error: less typical


def test_a_model_with_the_combined_score_needs_the_reconstruction_errors():
    from gpuclust.pipeline.saved_run import RunModel

    q = novelty.reference_quantiles(np.arange(100.0))
    m = RunModel("m", {}, None, q, components={"likelihood_quantiles": q, "reconstruction_quantiles": -q[::-1]})
    assert m.needs_errors and m.novelty_scores([50.0], [50.0]).shape == (1,)
    with pytest.raises(GpuclustError, match="reconstruction errors"):
        m.novelty_scores([50.0])
    plain = RunModel("m", {}, None, q)
    assert not plain.needs_errors and plain.novelty_scores([3.0])[0] == 3.0


def test_measuring_the_reconstruction_errors_leaves_the_latents_as_they_were(tmp_path):
    """The combined score's errors come from the same pass: the latents, and so the clusters, are unchanged."""
    import torch

    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import write_synthetic
    from gpuclust.latents.encode import encode_rows
    from gpuclust.models.autoencoder import AutoEncoder

    write_synthetic(tmp_path / "d.h5", 96, seed=3)
    torch.manual_seed(0)
    with open_spectrograms(tmp_path / "d.h5") as sf:
        model = AutoEncoder(tuple(sf.shape), 9, latent_activation="linear")
        rows = np.arange(96)[::-1]
        z = encode_rows(model, sf, rows, batch_size=32)
        z2, err = encode_rows(model, sf, rows, batch_size=32, errors=True)
        x = torch.from_numpy(next(iter_first(sf))).unsqueeze(1)
    assert torch.equal(z, z2) and err.shape == (96,) and bool((err > 0).all())
    with torch.no_grad():
        assert float(err[0]) == pytest.approx(float(((model(x[:1])[0] - x[:1]) ** 2).mean()), rel=1e-5)


def iter_first(sf):
    from gpuclust.data.loader import iter_batches

    for _, x in iter_batches(sf, np.arange(96), 32, shuffle=False):
        yield x
