"""gpuclust.clustering.metrics: internal indices as scikit-learn computes them, and agreement with ground truth."""
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from gpuclust.clustering.metrics import external_metrics, internal_metrics


def test_internal_metrics_match_sklearn():
    x, y = make_blobs(900, 4, centers=3, random_state=3)
    m = internal_metrics(x, y, 3, sample_size=10000)
    assert np.isclose(m["silhouette"], silhouette_score(x, y), atol=1e-7)
    assert np.isclose(m["calinski_harabasz"], calinski_harabasz_score(x, y))
    assert np.isclose(m["davies_bouldin"], davies_bouldin_score(x, y))
    assert m["cluster_sizes"] == np.bincount(y).tolist() and len(m["silhouette_per_cluster"]) == 3


def test_metrics_of_a_single_cluster_are_undefined_not_errors():
    x, _ = make_blobs(100, 2, centers=1, random_state=0)
    m = internal_metrics(x, np.zeros(100, int), 3)
    assert np.isnan(m["silhouette"]) and np.isnan(m["calinski_harabasz"]) and np.isnan(m["davies_bouldin"])


def test_external_metrics_hungarian_accuracy():
    truth = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    pred = np.array([2, 2, 1, 0, 0, 0, 1, 1])  # one mistake, clusters renamed
    m = external_metrics(truth, pred)
    assert m["accuracy"] == pytest.approx(7 / 8) and 0 < m["ari"] < 1 and 0 < m["nmi"] < 1
