"""gpuclust.clustering.select_k: the sweep over K and its suggestion."""
from sklearn.datasets import make_blobs

from gpuclust.clustering.select_k import sweep


def test_select_k_finds_the_true_number_of_blobs():
    x, _ = make_blobs(1500, 3, centers=4, cluster_std=0.6, random_state=11)
    res = sweep(x, range(2, 8), seed=0, n_refs=3)
    assert res["suggestion"]["gmm"]["k"] == 4
    assert res["suggestion"]["kmeans"]["k"] == 4
    assert {"bic", "aic", "inertia", "silhouette", "gap"} <= set(res["rows"][0])
