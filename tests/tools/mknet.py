#!/usr/bin/python3
"""Writes a small connectome.h5 for the tests (format: docs/design.md §4.2).

  mknet.py OUT.h5 random N SEED [MAXDEG [MAXCOUNT]]   random network, ~30% inhibitory neurons
  mknet.py OUT.h5 edges N 'pre post count; ...'       explicit connections (signed counts)
"""
import sys

import h5py
import numpy as np


def write(path, n, edges, rng):
    edges = sorted(edges)
    indptr = np.zeros(n + 1, dtype=np.int64)
    for pre, _, _ in edges:
        indptr[pre + 1] += 1
    indptr = np.cumsum(indptr)
    post = np.array([e[1] for e in edges], dtype=np.int32)
    count = np.array([e[2] for e in edges], dtype=np.int32)
    names = ["AL_L", "LH_L", "MB_CA_L"]
    np_indptr, np_id, np_syn = [0], [], []
    for i in range(n):
        k = int(rng.integers(0, 3))
        ids = sorted(rng.choice(len(names), size=k, replace=False).tolist())
        np_id += ids
        np_syn += rng.integers(1, 20, size=k).tolist()
        np_indptr.append(len(np_id))
    with h5py.File(path, "w") as f:
        f["/neurons/root_id"] = np.arange(n, dtype=np.int64) + 720575940600000000
        f["/neurons/neuropil"] = np.full(n, -1, dtype=np.int16)
        f["/connections/indptr"] = indptr
        f["/connections/post"] = post
        f["/connections/count"] = count
        f["/neuropils/names"] = np.array(names, dtype=h5py.string_dtype())
        f["/neuropils/indptr"] = np.array(np_indptr, dtype=np.int64)
        f["/neuropils/neuropil"] = np.array(np_id, dtype=np.int16)
        f["/neuropils/synapses"] = np.array(np_syn, dtype=np.int32)
        f.attrs["source"] = "tests/tools/mknet.py"
        f.attrs["release"] = "test"


def main():
    path, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "random":
        rng = np.random.default_rng(int(sys.argv[4]))
        maxdeg = int(sys.argv[5]) if len(sys.argv) > 5 else 30
        maxcount = int(sys.argv[6]) if len(sys.argv) > 6 else 60
        edges = []
        for i in range(n):
            sign = -1 if rng.random() < 0.3 else 1
            others = np.delete(np.arange(n), i)
            for t in rng.choice(others, size=min(int(rng.integers(0, maxdeg)), n - 1), replace=False):
                edges.append((i, int(t), sign * int(rng.integers(1, maxcount))))
    else:
        rng = np.random.default_rng(0)
        edges = []
        for item in sys.argv[4].split(";"):
            if item.strip():
                pre, post, count = (int(x) for x in item.split())
                edges.append((pre, post, count))
    write(path, n, edges, rng)


main()
