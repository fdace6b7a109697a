#!/usr/bin/python3
"""Writes the seed corpora of the fuzzing harnesses into tests/fuzz/corpus/<target>/: small valid
inputs (and a few near-misses) from which libFuzzer mutates. Every seed is a few KB at most.
HDF5 seeds are written with h5py in flyfit's layouts (README "Files"); the connectome seeds are the
kind tests/tools/mknet.py writes, one with a /partition/k1 as flyfit-partition stores it.
Usage: tests/fuzz/mkseeds.py [OUT_DIR]   (default tests/fuzz/corpus; rerunning rewrites the seeds)"""
import gzip
import io
import os
import struct
import sys
import zipfile

import h5py
import numpy as np

root = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "corpus")
repo = os.path.dirname(os.path.dirname(root))


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


VLEN = False  # variable-length strings (as h5py and flyfit write) bring a 4 KB global heap along


def text(values):
    """Strings as the seeds store them: variable length when VLEN, else fixed-width bytes."""
    if VLEN:
        return np.array(values, dtype=h5py.string_dtype())
    return np.array([v.encode() for v in values], dtype="S%d" % max(1, max(len(v) for v in values)))


def h5(target, name, fill, vlen=False):
    """An HDF5 seed: fill(f) writes the content; the newest file format keeps it small."""
    global VLEN
    VLEN = vlen
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="latest", track_order=False) as f:
        fill(f)
    put(target, name, buf.getvalue())


# ---- config: INI text, then after a NUL byte one --set per line --------------------------------
put("config", "simulate.ini", open(os.path.join(repo, "jobs/demo.ini")).read())
put("config", "fit.ini", open(os.path.join(repo, "jobs/demo-fit.ini")).read())
put("config", "minimal.ini", "[data]\nconnectome = c.h5\n")
put("config", "set.ini", "[data]\nconnectome = c.h5\n[run]\nbatch = 2\n\0run.seed=7\nmodel.dt_ms=0.2\nrun.mode=fit\n")
put("config", "every-type.ini",
    "; comment\n[data]\nconnectome = c.h5\ndrop_unmatched = yes\n[run]\nmode = simulate\nbackend = emulate\n"
    "transport = nccl\ndevices = 0, 1\nthreads = 2\nduration_ms = 1e2\n[model]\ndelay_ms = 1.8\nv_th_mV = -40\n"
    "[stimulus]\npoisson_neurons = 1,5,10-12\nsilence = 3\n[output]\nspikes = none\n")
put("config", "brainscale.ini",
    "[data]\nconnectome = c.h5\nactivity = a.h5\n[run]\nmode = all\npreset = brainscale\n[fit]\n"
    "trainable = encoder, connections\nloss = huber\nhuber_delta = 2\n[predict]\nwarmup_frames = 3\n")

# ---- csv: mode byte, file A, "\n--8<--\n", file B -------------------------------------------------
SEP = b"\n--8<--\n"
neurons = open(os.path.join(repo, "data/fixture_neurons.csv"), "rb").read()
conn = open(os.path.join(repo, "data/fixture_connectivity.csv"), "rb").read()
codex = open(os.path.join(repo, "data/fixture_codex.csv"), "rb").read()
put("csv", "neurons.bin", b"\0" + neurons)
put("csv", "shiu.bin", b"\1" + neurons + SEP + conn)
put("csv", "codex.bin", b"\2" + codex)
put("csv", "codex-gz.bin", b"\2" + gzip.compress(codex, mtime=0))
put("csv", "codex-neurons.bin", b"\3" + neurons + SEP + codex)
put("csv", "quoted.bin", b"\2" + b'pre_root_id,"post_root_id",neuropil,syn_count,nt_type\r\n'
    b'1,2,"AL,L",3,GABA\r\n2,1,"MB ""x""",4,ACH\r\n1,2,GNG,1,\r\n')

# ---- npz: numpy archives, and bare .npy streams (the header parser alone) ------------------------
def npz(name, compressed=False, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    put("npz", name, buf.getvalue())


areas = np.array(["background", "AL_R", "MB_CA_L"])
traces = (np.arange(3 * 6, dtype=np.float64).reshape(3, 6) % 5) + 1.0
npz("recording.npz", areas=areas, traces=traces)
npz("recording-deflated.npz", True, areas=areas, traces=traces.astype("<f4"))
npz("types.npz", i1=np.array([-3, 5], "i1"), u2=np.array([0, 200], "<u2"), b1=np.array([True, False]),
    s=np.array([b"bg", b"LH_L"]), f=np.asfortranarray(np.arange(6.0).reshape(2, 3)), scalar=np.float64(7.25))
hdr = io.BytesIO()
np.lib.format.write_array(hdr, np.arange(4, dtype="<i4").reshape(2, 2), version=(1, 0))
put("npz", "bare-v1.npy", hdr.getvalue())
hdr = io.BytesIO()
np.lib.format.write_array(hdr, np.array(["x", "yz"]), version=(3, 0))
put("npz", "bare-v3.npy", hdr.getvalue())
header = b"{'shape': (2L, 3L), \"fortran_order\": False, 'descr': '<i4', }"
header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
spelled = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(24)
zb = io.BytesIO()
with zipfile.ZipFile(zb, "w") as z:
    z.writestr("a.npy", spelled)
    z.writestr("areas.npy", spelled)
put("npz", "spelled.npz", zb.getvalue())


def slab_checksum(g):
    """ff_partition_slab_checksum (src/partition/build.c) of the one rank's slab: FNV-1a over the arrays."""
    h = 0xcbf29ce484222325
    for name in ("order", "pre", "pre_conn", "target", "weight", "np_row", "np_id", "np_syn"):
        a = g[name][()]
        if name in ("pre_conn", "np_row"):
            a = a - a[0]
        for b in a.tobytes():
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


# ---- connectome.h5 ----------------------------------------------------------------------------------
def connectome(f, n=4, edges=((0, 1, 3), (0, 2, -1), (1, 3, 2), (3, 0, 5)), partition=False):
    indptr = np.zeros(n + 1, np.int64)
    for pre, _, _ in edges:
        indptr[pre + 1] += 1
    indptr = np.cumsum(indptr)
    post = np.array([e[1] for e in edges], np.int32)
    count = np.array([e[2] for e in edges], np.int32)
    np_indptr = np.array([0, 1, 1, 3, 3][: n + 1], np.int64)
    np_id = np.array([0, 0, 1][: np_indptr[-1]], np.int16)
    np_syn = np.array([2, 1, 4][: np_indptr[-1]], np.int32)
    f["/neurons/root_id"] = np.arange(n, dtype=np.int64) + 720575940600000000
    f["/neurons/neuropil"] = np.array([0, -1, 1, -1][:n], np.int16)
    f["/connections/indptr"] = indptr
    f["/connections/post"] = post
    f["/connections/count"] = count
    f["/neuropils/names"] = text(["AL_L", "GNG"])
    f["/neuropils/indptr"] = np_indptr
    f["/neuropils/neuropil"] = np_id
    f["/neuropils/synapses"] = np_syn
    f.attrs["source"] = text(["tests/fuzz/mkseeds.py"])[0]
    f.attrs["release"] = text(["test"])[0]
    if partition:  # one rank owns everything, in original order; the checksum as flyfit computes it
        g = f.create_group("/partition/k1")
        pre = np.array(sorted({e[0] for e in edges}), np.int64)
        pre_conn = np.concatenate([[0], np.cumsum([sum(1 for e in edges if e[0] == p) for p in pre])]).astype(np.int64)
        g["owner"] = np.zeros(n, np.int32)
        g["order"] = np.arange(n, dtype=np.int64)
        g["neuron_offsets"] = np.array([0, n], np.int64)
        g["pre"] = pre
        g["pre_offsets"] = np.array([0, len(pre)], np.int64)
        g["pre_conn"] = pre_conn
        g["target"] = post
        g["weight"] = count
        g["np_row"] = np_indptr
        g["np_id"] = np_id
        g["np_syn"] = np_syn
        g["checksum"] = np.array([slab_checksum(g)], np.uint64)
        g.attrs["ranks"] = np.int64(1)
        g.attrs["neurons"] = np.int64(n)


h5("connectome", "small.h5", connectome)
h5("connectome", "small-vlen.h5", connectome, vlen=True)
h5("connectome", "no-connections.h5", lambda f: connectome(f, edges=()))
h5("connectome", "partition-k1.h5", lambda f: connectome(f, partition=True))


# ---- activity.h5 -------------------------------------------------------------------------------------
def activity(f, P=2, T=8):
    rng = np.random.default_rng(1)
    f["/areas"] = text(["AL_R", "MB_CA_L", "GNG"][:P])
    f["/traces"] = (1.0 + rng.random((T, P))).astype(np.float32)
    f["/rates"] = np.zeros((T - 1, P), np.float32)
    f["/neuropil_index"] = np.arange(P, dtype=np.int32)
    for k, v in {"fs_hz": 1.2, "highpass_hz": 0.01, "calcium_tau_s": 0.8, "deconv_lambda": 0.0,
                 "max_rate_hz": 100.0}.items():
        f.attrs[k] = np.float64(v)
    f.attrs["trim_frames"] = np.int64(1)
    f.attrs["neural_activity_id"] = text(["fuzz_1"])[0]
    f.attrs["source"] = text(["tests/fuzz/mkseeds.py"])[0]


h5("activity", "small.h5", activity)
h5("activity", "small-vlen.h5", activity, vlen=True)
h5("activity", "one-region.h5", lambda f: activity(f, P=1, T=4))


# ---- round-2 checkpoint (ff_gru_save's layout) for P = 2, H = 3 --------------------------------------
def checkpoint(f, P=2, H=3):
    shapes = {"ln_gamma": (P,), "ln_beta": (P,), "w_ih": (3 * H, P), "w_hh": (3 * H, H), "b_ih": (3 * H,),
              "b_hh": (3 * H,), "w_out": (P, H), "b_out": (P,)}
    rng = np.random.default_rng(2)
    for a in ("params", "adam_m", "adam_v"):
        for name, shape in shapes.items():
            f[f"/{a}/{name}"] = rng.random(shape) * 0.1
    f.attrs["P"] = np.int64(P)
    f.attrs["H"] = np.int64(H)
    f.attrs["out_scale_hz"] = np.float64(100.0)
    f.attrs["adam_steps"] = np.int64(5)
    f.attrs["epochs"] = np.int64(1)
    f.attrs["best_epoch"] = np.int64(0)


h5("checkpoint", "gru.h5", checkpoint)
h5("checkpoint", "other-size.h5", lambda f: checkpoint(f, H=4))

# ---- files written by flyfit itself (when it is built): its own layout, variable-length strings --------
flyfit_import = os.path.join(repo, "bin/flyfit-import")
if os.access(flyfit_import, os.X_OK):
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        c = os.path.join(tmp, "c.h5")
        subprocess.run([flyfit_import, "codex", "--connections", os.path.join(repo, "data/fixture_codex.csv"),
                        "--neurons", os.path.join(repo, "data/fixture_neurons.csv"), "-o", c], check=True,
                       stderr=subprocess.DEVNULL)
        put("connectome", "flyfit-import-codex.h5", open(c, "rb").read())
        rec = os.path.join(tmp, "fly_1.npz")  # regions AL_L and GNG; the connectome has 5 neuropils
        np.savez(rec, areas=np.array(["bg", "AL_L", "GNG"]), traces=1.0 + np.random.default_rng(3).random((3, 12)))
        a = os.path.join(tmp, "a.h5")
        subprocess.run([flyfit_import, "activity", rec, "--connectome", c, "--trim-frames", "2", "--drop-unmatched", "-o", a], check=True,
                       stderr=subprocess.DEVNULL)
        put("activity", "flyfit-import-activity.h5", open(a, "rb").read())

# ---- hand-made regression inputs: bugs found by reading the readers, kept with the fuzzers' finds ----
def regress(target, name, fill):
    global out
    keep, out = out, os.path.join(root, "regress")
    h5(target, name, fill)
    out = keep


def jumping_indptr(f):  # [0, 9, 9, 9, 4]: ends right, but neuron 0's row ran past post[] (ascending there)
    connectome(f, edges=((0, 0, 1), (0, 1, 1), (0, 2, 1), (0, 3, 1)))
    del f["/connections/indptr"]
    f["/connections/indptr"] = np.array([0, 9, 9, 9, 4], np.int64)


def decreasing_indptr(f):  # ff_net_load went on with a half-built network after load_whole's refusal
    connectome(f)
    del f["/connections/indptr"]
    f["/connections/indptr"] = np.array([0, 2, 1, 3, 4], np.int64)


def unstored(f):  # 2^40 neurons claimed, nothing stored: the readers allocated what the dims said
    connectome(f)
    del f["/neurons/root_id"]
    f.create_dataset("/neurons/root_id", shape=(2**40,), dtype=np.int64)


def array_attribute(f):  # H5Aread wrote 64 int64 into one int64 on the stack
    connectome(f, partition=True)
    f["/partition/k1"].attrs["ranks"] = np.ones(64, np.int64)


def jumping_np_row(f):  # a slab whose neuropil rows run past their end, with a matching checksum
    connectome(f, partition=True)
    g = f["/partition/k1"]
    del g["np_row"], g["checksum"]
    g["np_row"] = np.array([0, 9, 2, 3, 3], np.int64)
    g["checksum"] = np.array([slab_checksum(g)], np.uint64)


regress("connectome", "crafted-jumping-indptr.h5", jumping_indptr)
regress("connectome", "crafted-decreasing-indptr.h5", decreasing_indptr)
regress("connectome", "crafted-unstored-root-id.h5", unstored)
regress("connectome", "crafted-array-attribute-ranks.h5", array_attribute)
regress("connectome", "crafted-jumping-np-row.h5", jumping_np_row)


def string_array_attribute(f):  # a fixed-length string attribute of 3 elements overran its 1-element buffer
    activity(f)
    del f.attrs["neural_activity_id"]
    f.attrs["neural_activity_id"] = np.array([b"fly_1", b"fly_2", b"fly_3"], dtype="S5")


def unstored_traces(f):  # [2^31, 2] frames claimed, nothing stored
    activity(f)
    del f["/traces"]
    f.create_dataset("/traces", shape=(2**31, 2), dtype=np.float32)


regress("activity", "crafted-string-array-attribute.h5", string_array_attribute)
regress("activity", "crafted-unstored-traces.h5", unstored_traces)
