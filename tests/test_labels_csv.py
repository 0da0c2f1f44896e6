"""labels.csv as written and read back: the per-event log-likelihood column, and old runs' name for it."""
import numpy as np

from gpuclust.clustering.api import read_labels, write_labels


def test_labels_round_trip_with_the_log_likelihood_column(tmp_path):
    path = tmp_path / "labels.csv"
    write_labels(path, np.array([3, 5]), np.array([1, 0]), probs=np.array([[0.2, 0.8], [0.9, 0.1]]),
                 scores=np.array([-1.5, -40.25]), unknown=np.array([False, True]))
    assert open(path).readline().startswith("row,cluster,unknown,log_likelihood,probability")
    back = read_labels(path)
    assert back["row"].tolist() == [3, 5] and back["cluster"].tolist() == [1, 0]
    assert back["unknown"].tolist() == [False, True] and back["log_likelihood"].tolist() == [-1.5, -40.25]


def test_an_old_run_with_a_score_column_still_reads(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("row,cluster,unknown,score\n0,2,0,-3.5\n1,1,1,-99\n")
    back = read_labels(path)
    assert back["log_likelihood"].tolist() == [-3.5, -99.0] and back["unknown"].tolist() == [False, True]
