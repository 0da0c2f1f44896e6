"""gpuclust.clustering.stability: K by stability, entropy merging of mixture components, per-cluster stability."""
import numpy as np
from sklearn.datasets import make_blobs

from gpuclust.clustering.gmm import GaussianMixture
from gpuclust.clustering.select_k import suggest_all
from gpuclust.clustering.stability import disagreement, elbow, entropy_merge, k_stability, refit_stability


def test_disagreement_ignores_label_names():
    a = np.array([0, 0, 1, 1, 2, 2])
    assert disagreement(a, (a + 1) % 3) == 0.0
    assert abs(disagreement(a, np.array([0, 0, 1, 1, 2, 0])) - 1 / 6) < 1e-12


def test_stability_chooses_the_number_of_blobs_not_the_smallest_k():
    x, _ = make_blobs(800, 3, centers=4, cluster_std=0.6, random_state=11)
    rows = k_stability(x, range(2, 7), "kmeans", n_splits=2)
    assert suggest_all(rows)["stability"]["k"] == 4
    assert rows[3]["instability"] > 0.1 > rows[2]["instability"]  # K = 5 cuts a blob differently in each half


def _two_overlapping_and_two_apart(rng):
    parts = [rng.normal(c, 0.5, (300, 2)) for c in ([0, 0], [1.0, 0], [8, 0], [0, 8])]
    return np.vstack(parts)


def test_entropy_merging_joins_the_components_of_one_cluster():
    x = _two_overlapping_and_two_apart(np.random.default_rng(0))
    g = GaussianMixture(4, random_state=0).fit(x)
    res = entropy_merge(g.predict_proba(x))
    assert res["k"] == 3
    near = [j for j in range(4) if np.linalg.norm(g.means_[j]) < 2]  # the two components of the left cluster
    assert len(near) == 2 and res["merges"][0] == [[near[0]], [near[1]]]
    m3 = res["maps"][3]
    assert m3[near[0]] == m3[near[1]] and len(set(m3)) == 3
    assert res["entropy"][2] < 0.01 * res["entropy"][3]  # entropy after the merge is that of clean clusters


def test_elbow_is_the_change_of_slope():
    assert elbow([0, 0, 0, 0, 0.1, 5, 10, 15]) == 5
    assert elbow([1.0, 2.0]) == 2
    assert elbow([0.0, 0.01, 0.02, 0.03], n=100) == 4  # no merge lowers the entropy: keep every component


def test_tight_blobs_are_stable_and_a_broad_region_split_in_two_is_not():
    rng = np.random.default_rng(0)
    blobs = np.vstack([rng.normal(c, 0.2, (300, 2)) for c in ([10, 10], [10, -10], [-10, 10])])
    r, t = 4 * np.sqrt(rng.uniform(0, 1, 600)), rng.uniform(0, 2 * np.pi, 600)
    disc = np.c_[r * np.cos(t) - 10, r * np.sin(t) - 10]  # a uniform disc: any cut through it is as good
    x = np.vstack([blobs, disc])
    from gpuclust.clustering.kmeans import KMeans

    labels = np.asarray(KMeans(5, n_init=1, random_state=0).fit(x).predict(x))
    res = refit_stability(x, labels, "kmeans", 5, seed=0, n_refits=5)
    jac = np.array(res["per_cluster"])
    in_blobs = [labels[i] for i in (0, 300, 600)]
    in_disc = sorted(set(range(5)) - set(in_blobs))
    assert (jac[in_blobs] > 0.95).all() and all(res["verdict"][j] == "stable" for j in in_blobs)
    assert (jac[in_disc] < 0.75).all() and all(res["verdict"][j] != "stable" for j in in_disc)
