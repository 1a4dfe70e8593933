"""ProcessCache: one value per process and key, remade in a forked child, closed when dropped."""

import os

from gwtm_assets.process_cache import ProcessCache


def test_a_value_is_made_once_per_key_and_closed_when_discarded_or_at_the_end():
    closed = []
    cache: ProcessCache[list] = ProcessCache(close=closed.append)
    first = cache.get(("a",), lambda: ["a1"])
    assert cache.get(("a",), lambda: ["a2"]) is first
    other = cache.get(("b",), lambda: ["b1"])
    cache.discard(("a",))
    assert closed == [first] and cache.keys() == [("b",)]
    assert cache.get(("a",), lambda: ["a3"]) == ["a3"]  # a discarded (broken) value is made anew
    cache.close_all()
    assert other in closed and cache.keys() == []


def test_a_forked_child_makes_its_own_and_never_closes_its_parents():
    closed = []
    cache: ProcessCache[str] = ProcessCache(close=closed.append)
    parent = cache.get(("k",), lambda: "parent")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new value, and closing it leaves the parent's alone
        try:
            mine = cache.get(("k",), lambda: "child")
            cache.close_all()
            os.write(write, f"{mine},{','.join(closed)}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "child,child"
    assert cache.get(("k",), lambda: "again") == parent and closed == []
