"""read_ahead: the same items in the same order, at most two alive, errors raised where they belong, no thread left."""
import threading
import time

import pytest

from gpuclust.data.readahead import read_ahead


def test_the_same_items_in_order_with_at_most_one_made_ahead():
    made, taken = [], []

    def items():
        for i in range(6):
            made.append(i)
            yield i

    for i in read_ahead(items()):
        time.sleep(0.01)  # the producer has had time to run ahead as far as it may
        assert made[-1] <= i + 1, "made more than one item ahead"
        taken.append(i)
    assert taken == list(range(6))


def test_an_error_while_making_an_item_is_raised_at_that_item():
    def items():
        yield 0
        yield 1
        raise OSError("bad window")

    got = []
    with pytest.raises(OSError, match="bad window"):
        for i in read_ahead(items()):
            got.append(i)
    assert got == [0, 1]


def test_stopping_early_stops_and_joins_the_producer():
    made = []

    def items():
        for i in range(1000):
            made.append(i)
            yield i

    before = threading.active_count()
    gen = read_ahead(items())
    assert next(gen) == 0
    gen.close()
    assert threading.active_count() == before
    assert len(made) <= 2
    assert not any(t.name == "gpuclust-read-ahead" for t in threading.enumerate())


@pytest.mark.parametrize("shuffle", [False, True])
def test_iter_batches_reading_ahead_gives_the_same_batches(tmp_path, shuffle):
    import numpy as np

    from gpuclust.data.loader import iter_batches
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import write_synthetic

    path = str(tmp_path / "d.h5")
    write_synthetic(path, 300, seed=0)
    with open_spectrograms(path) as sf:
        rows = np.arange(3, 290)
        runs = [list(iter_batches(sf, rows, 32, shuffle=shuffle, seed=5, window=64, ahead=ahead))
                for ahead in (False, True)]
    assert len(runs[0]) == len(runs[1]) > 5
    for (i0, x0), (i1, x1) in zip(*runs):
        assert np.array_equal(i0, i1) and np.array_equal(x0, x1)
