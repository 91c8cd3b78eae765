"""The safetensors writer the fixture scripts share (no safetensors package is installed): an 8-byte little-endian
header length, the JSON header padded with spaces to a multiple of 8 bytes, then the tensors' bytes in order."""
import json
import struct


def write(path, entries, metadata):
    """entries: (name, dtype such as "F32" or "F64", shape, little-endian bytes) in file order; metadata: str -> str."""
    header, blobs, offset = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
