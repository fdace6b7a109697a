#!/usr/bin/python3
"""Writes the .npz archives that tests/unit/test_npz.c reads, into the directory given.

Good archives are made by numpy itself (np.savez, np.savez_compressed, np.lib.format.write_array
for the version 2.0 and 3.0 headers); the values follow the formulas the C test checks. A few
members are written byte by byte to reach header spellings and damage that numpy never produces.
Usage: mknpz.py DIR"""
import io
import os
import struct
import sys
import zipfile

import numpy as np

d = sys.argv[1]


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def raw_npy(header, data, version=1):
    """An .npy stream with the header text exactly as given (padded with spaces and a newline)."""
    text = header.encode("latin1")
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(text) + 1) % 64) % 64
    text = text + b" " * pad + b"\n"
    length = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + data


def zip_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


# a[i, j] = 1.5 * (4 i + j) - 2, shape (3, 4)
a = 1.5 * np.arange(12, dtype=np.float64).reshape(3, 4) - 2
np.savez(f"{d}/f64.npz", a=a, scalar=np.float64(7.25))
# float32 [2, 5]: v[i, j] = (i + 1) / (j + 1), deflated
np.savez_compressed(f"{d}/f32.npz", v=(np.arange(1, 3)[:, None] / np.arange(1, 6)[None, :]).astype("<f4"))
# every integer and bool type: values (-3, 0, 5) or (0, 1, 200) where unsigned
np.savez(f"{d}/ints.npz", i1=np.array([-3, 0, 5], "i1"), i2=np.array([-3, 0, 5], "<i2"),
         i4=np.array([-3, 0, 5], "<i4"), i8=np.array([-3, 0, 5], "<i8"), u1=np.array([0, 1, 200], "u1"),
         u2=np.array([0, 1, 200], "<u2"), u4=np.array([0, 1, 200], "<u4"), u8=np.array([0, 1, 200], "<u8"),
         b1=np.array([True, False, True]))
# Fortran order: t[i, j, k] = 100 i + 10 j + k, shape (2, 3, 4); m[i, j] = 10 i + j, int32 (3, 2)
t = np.asfortranarray((100 * np.arange(2)[:, None, None] + 10 * np.arange(3)[None, :, None]
                       + np.arange(4)[None, None, :]).astype("<f8"))
m = np.asfortranarray((10 * np.arange(3)[:, None] + np.arange(2)[None, :]).astype("<i4"))
assert t.flags.f_contiguous and not t.flags.c_contiguous
np.savez_compressed(f"{d}/fortran.npz", t=t, m=m)
# names: unicode (with non-ASCII letters and an empty string) and byte strings
np.savez(f"{d}/names.npz", u=np.array(["bg", "AL_R", "MB_CA_L", "ünï€𝄞", ""]), s=np.array([b"bg", b"LH_L"]),
         n=np.arange(3.0))
# version 2.0 and 3.0 headers (numpy picks them itself only for very long headers)
zip_members(f"{d}/v2.npz", {"a.npy": npy_bytes(a, (2, 0)), "names.npy": npy_bytes(np.array(["x", "yz"]), (3, 0))},
            zipfile.ZIP_DEFLATED)
# a hand-written header: keys in another order, double quotes, Python 2 longs, trailing comma
data = np.array([[1, 2, 3], [4, 5, 6]], "<i4").tobytes()
zip_members(f"{d}/spelled.npz", {"a.npy": raw_npy("{'shape': (2L, 3L), \"fortran_order\": False, 'descr': '<i4', }", data)})

# ---- bad archives -------------------------------------------------------------------------------
np.savez_compressed(f"{d}/big.npz", a=np.random.default_rng(1).normal(size=(20, 400)))
whole = open(f"{d}/big.npz", "rb").read()
open(f"{d}/truncated.npz", "wb").write(whole[: len(whole) // 2])
# flip bytes inside the deflated data: the central directory survives, the member does not
damaged = bytearray(whole)
for k in range(len(whole) // 3, len(whole) // 3 + 64):
    damaged[k] ^= 0x5A
open(f"{d}/damaged.npz", "wb").write(bytes(damaged))
open(f"{d}/text.npz", "w").write("region,frame,value\nAL_R,0,1.5\n")
np.save(f"{d}/bare.npz", a)  # np.save appends .npy unless the name already ends with it
os.replace(f"{d}/bare.npz.npy", f"{d}/bare.npz")
np.savez(f"{d}/pickled.npz", areas=np.array(["bg", "AL_R", 3], dtype=object))
np.savez(f"{d}/bigendian.npz", a=np.arange(4, dtype=">f8"), n=np.array(["ab"], dtype=">U2"))
np.savez(f"{d}/other.npz", c=np.arange(3) * (1 + 1j), r=np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]),
         h=np.zeros(3, np.float16))
zip_members(f"{d}/bad.npz", {
    "short.npy": npy_bytes(a)[:-8],  # 8 bytes of data missing
    "long.npy": npy_bytes(a) + b"\0" * 8,
    "syntax.npy": raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4) ", a.tobytes()),
    "nokey.npy": raw_npy("{'descr': '<f8', 'shape': (3, 4), }", a.tobytes()),
    "extra.npy": raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), 'x': 1}", a.tobytes()),
    "negshape.npy": raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-3, 4), }", a.tobytes()),
    "version.npy": raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", a.tobytes())
                   .replace(b"NUMPY\x01\x00", b"NUMPY\x04\x00", 1),
    "notnpy.npy": b"just some bytes, not an array",
    "names2d.npy": npy_bytes(np.array([["a", "b"], ["c", "d"]])),
})
