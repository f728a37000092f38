#!/usr/bin/python3
"""st_write_reference.py — writes a small safetensors file with the Python
standard library only (struct + json), independently of the engine's writer.

Usage: st_write_reference.py OUT.safetensors

The file has F32, F16, BF16, F64, I64, I32 and an empty tensor, metadata in
the middle of the header, a header padded with spaces (not to the usual
multiple of 8), and a data section whose order differs from the header's.
tests/engine/test_safetensors.c (given the path as argv[1]) checks every
value exactly; keep the two in step.
"""
import json
import struct
import sys


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def bf16(values):
    # upper half of each float32; the values are exact in bfloat16
    out = b""
    for v in values:
        b = struct.pack("<f", v)
        assert b[0:2] == b"\0\0", v
        out += b[2:4]
    return out


# name -> (dtype, shape, bytes), in header order
TENSORS = [
    ("z_f32", "F32", [2, 3], f32([0.0, 1.5, -2.25, 1024.0, 0.1, -3.0e38])),
    ("a_f16", "F16", [7], struct.pack("<7e", 1.0, -2.0, 0.5, 65504.0, 2.0 ** -24, -0.0,
                                      float("inf"))),
    ("m_bf16", "BF16", [2, 2], bf16([1.0, -3.5, 2.0 ** 100, 2.0 ** -130])),
    ("d_f64", "F64", [2, 2], struct.pack("<4d", 0.1, -123.456, 1e300, 2.5)),
    ("i_i64", "I64", [3], struct.pack("<3q", -5, 0, 2 ** 40)),
    ("s_i32", "I32", [], struct.pack("<i", -7)),
    ("e_empty", "F32", [0, 3], b""),
]
# data is laid out in this (different) order
DATA_ORDER = ["m_bf16", "d_f64", "e_empty", "z_f32", "s_i32", "a_f16", "i_i64"]
METADATA = {"format": "pt", "note": "written by st_write_reference.py",
            "unicode": "\u00fcn\u00ef \u2713"}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: st_write_reference.py OUT.safetensors")
    by_name = {name: (dtype, shape, data) for name, dtype, shape, data in TENSORS}
    offsets, blob = {}, b""
    for name in DATA_ORDER:
        data = by_name[name][2]
        offsets[name] = [len(blob), len(blob) + len(data)]
        blob += data
    header = {}
    for i, (name, dtype, shape, _) in enumerate(TENSORS):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": offsets[name]}
        if i == 1:
            header["__metadata__"] = METADATA   # not first: position must not matter
    text = json.dumps(header).encode("utf-8")   # ASCII with \u escapes
    text += b" " * (13 - len(text) % 8)          # padded, deliberately not to 8
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(blob)


if __name__ == "__main__":
    main()
