"""One item ahead: an iterator's next item made in a background thread while the caller works on this one.

Reading and normalising a window of spectrograms runs in NumPy and h5py on one core, and both release the GIL;
encoding it runs in torch. In turn they leave a core idle half the time; overlapped, the encoding of window k and
the reading of window k + 1 share the machine. The producer starts an item only when the caller takes the one
before, so at most two items are alive at once (the caller's and the next), whatever the iterator's length.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


def read_ahead(items: Iterable) -> Iterator:
    """The items of `items`, in order, each produced while the caller holds the one before. An exception raised
    while producing an item is raised to the caller when it asks for that item; if the caller stops early, the
    producer finishes the item it is making and stops (the thread is joined before this generator closes)."""
    slot: list = []
    ready = threading.Semaphore(0)    # an item is in the slot
    wanted = threading.Semaphore(1)   # the caller has taken the slot's item: make the next
    stop = threading.Event()

    def produce():
        it = iter(items)
        while True:
            wanted.acquire()
            if stop.is_set():
                return
            try:
                item = next(it)
            except StopIteration:
                item = _END
            except BaseException as e:  # handed to the caller, raised there
                item = _Failed(e)
            slot.append(item)
            ready.release()
            if item is _END or isinstance(item, _Failed):
                return

    worker = threading.Thread(target=produce, name="gpuclust-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            ready.acquire()
            item = slot.pop()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            wanted.release()
            yield item
    finally:
        stop.set()
        wanted.release()
        worker.join()
