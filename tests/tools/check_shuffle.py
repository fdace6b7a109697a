#!/usr/bin/python3
"""Checks a degree-preserving shuffled connectome (flyfit-import shuffle) against its source, from the
files alone, for tests/integration/shuffle.sh. Everything is recomputed here with numpy from the
datasets of docs/formats.md ("connectome.h5"); nothing of flyfit's is used.

Usage: check_shuffle.py BRAIN.h5 SHUF.h5 SAME_SEED.h5 OTHER_SEED.h5
  SHUF.h5 and SAME_SEED.h5 were made with the same seed, OTHER_SEED.h5 with another.
Prints TAP lines (a failed check is a "not ok" line); exits 0 when it ran to the end."""
import sys

import h5py
import numpy as np

failures = 0


def check(ok, what):
    global failures
    print(("ok - " if ok else "not ok - ") + what)
    failures += not ok


DATASETS = ["/neurons/root_id", "/neurons/neuropil", "/connections/indptr", "/connections/post",
            "/connections/count", "/neuropils/names", "/neuropils/indptr", "/neuropils/neuropil",
            "/neuropils/synapses"]


def load(path):
    with h5py.File(path, "r") as f:
        d = {k: f[k][()] for k in DATASETS}
        d["attrs"] = dict(f["/shuffle"].attrs) if "/shuffle" in f else None
    n = len(d["/neurons/root_id"])
    indptr = d["/connections/indptr"].astype(np.int64)
    d["n"] = n
    d["pre"] = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    d["post"] = d["/connections/post"].astype(np.int64)
    d["count"] = d["/connections/count"].astype(np.int64)
    return d


def neuropil_sizes(d):
    """Neurons whose home is each neuropil, and presynaptic synapses per neuropil."""
    P = len(d["/neuropils/names"])
    home = d["/neurons/neuropil"].astype(np.int64)
    homes = np.bincount(home[home >= 0], minlength=P)
    syn = np.bincount(d["/neuropils/neuropil"].astype(np.int64), weights=d["/neuropils/synapses"], minlength=P)
    return homes, syn


def main():
    a, s, same, other = (load(p) for p in sys.argv[1:5])
    n, E = a["n"], len(a["post"])
    check(s["n"] == n and np.array_equal(s["/neurons/root_id"], a["/neurons/root_id"]),
          f"same neurons ({n}), same root ids in the same order")
    check(len(s["post"]) == E, f"same number of connections ({E})")
    check(np.array_equal(np.bincount(s["pre"], minlength=n), np.bincount(a["pre"], minlength=n)),
          "every neuron's out-degree is kept")
    check(np.array_equal(np.bincount(s["post"], minlength=n), np.bincount(a["post"], minlength=n)),
          "every neuron's in-degree is kept")
    ha, sa = neuropil_sizes(a)
    hs, ss = neuropil_sizes(s)
    check(np.array_equal(ha, hs), f"every neuropil keeps its neurons (home neuropil; {len(ha)} neuropils)")
    check(np.array_equal(sa, ss), "every neuropil keeps its synapses")
    check(np.array_equal(s["/neurons/neuropil"], a["/neurons/neuropil"]), "every neuron keeps its home neuropil")
    # signs: a neuron's sign is its connections' sign; the counts travel with the presynaptic neuron
    def sign_of(d):
        sg = np.zeros(n, dtype=np.int64)
        sg[d["pre"]] = np.sign(d["count"])
        mixed = np.zeros(n, dtype=bool)
        mixed[d["pre"][np.sign(d["count"]) != sg[d["pre"]]]] = True
        return sg, mixed.any()
    sg_a, mixed_a = sign_of(a)
    sg_s, mixed_s = sign_of(s)
    check(not mixed_a and not mixed_s and np.array_equal(sg_a, sg_s),
          f"signs kept: each neuron's connections have one sign, the same as before ({(sg_a < 0).sum()} inhibitory)")
    order_a = np.lexsort((a["count"], a["pre"]))
    order_s = np.lexsort((s["count"], s["pre"]))
    check(np.array_equal(a["count"][order_a], s["count"][order_s]),
          "every neuron keeps its outgoing synapse counts (as a multiset)")
    syn_in_a = np.bincount(a["post"], weights=np.abs(a["count"]), minlength=n)
    syn_in_s = np.bincount(s["post"], weights=np.abs(s["count"]), minlength=n)
    check(syn_in_a.sum() == syn_in_s.sum(), "total synapses kept")
    check(not np.array_equal(syn_in_a, syn_in_s), "incoming synapse totals move with the wiring (not a copy)")
    check(not np.any(s["pre"] == s["post"]), "no self-connections")
    key_a = a["pre"] * n + a["post"]
    key_s = s["pre"] * n + s["post"]
    check(len(np.unique(key_s)) == E, "no repeated connections")
    check(np.all(np.diff(key_s) > 0), "targets ascending within each row (the CSR invariant)")
    changed = 1.0 - np.isin(key_a, key_s).sum() / E
    check(changed > 0.5, f"share of the connections changed {changed:.3f} > 0.5")
    at = s["attrs"]
    check(at is not None, "the file says it is a shuffle (group /shuffle)")
    if at is not None:
        check(abs(float(at["changed"]) - changed) < 1e-12,
              f"/shuffle changed = {float(at['changed']):.6f}, the share recomputed here")
        check(0 < int(at["swaps"]) <= int(at["attempts"]), f"/shuffle swaps {int(at['swaps'])} of {int(at['attempts'])} attempts")
        check(int(at["attempts"]) == int(float(at["swaps_per_connection"]) * E),
              "/shuffle attempts = swaps_per_connection x connections")
        src = at["source_file"]
        src = src.decode() if isinstance(src, bytes) else str(src)
        check(src == sys.argv[1], f"/shuffle source_file names the input ({src})")
        check(same["attrs"] is not None and int(same["attrs"]["seed"]) == int(at["seed"])
              and other["attrs"] is not None and int(other["attrs"]["seed"]) != int(at["seed"]),
              "/shuffle seed recorded")
    check(a["attrs"] is None, "the source has no /shuffle group")
    same_content = all(np.array_equal(s[k], same[k]) and s[k].dtype == same[k].dtype for k in DATASETS)
    check(same_content, "the same seed gives the same datasets, value for value")
    check(not np.array_equal(s["post"], other["post"]), "another seed gives other wiring")
    return 0


if __name__ == "__main__":
    sys.exit(main())
