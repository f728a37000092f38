"""st_write.py — the safetensors writer the golden-file scripts share.

write_safetensors(path, tensors, meta) stores every tensor (a torch tensor,
any dtype) as float32 in sorted name order, the metadata dict as
"__metadata__", and pads the JSON header with spaces to a multiple of 8
bytes — the layout engine/formats/safetensors.c writes too.
"""
import json
import struct

import torch


def write_safetensors(path, tensors, meta):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = tensors[k].detach().to(torch.float32).contiguous()
        raw = struct.pack("<%df" % a.numel(), *a.flatten().tolist())
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
