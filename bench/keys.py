"""Keys shaped as etcd's benchmark and `etcdctl check perf` shape them: a number written with
Go's binary.PutVarint into a fixed-size buffer of zeros, so key sizes (and the server's work
per key) match etcd's runs byte for byte."""
from __future__ import annotations


def put_varint(n: int, size: int) -> bytes:
    """binary.PutVarint (zig-zag, then base-128 little-endian) padded with zeros to `size`
    bytes; like Go, refuse a buffer too small for the number."""
    ux = ((n << 1) ^ (-1 if n < 0 else 0)) & ((1 << 64) - 1)
    out = bytearray()
    while ux >= 0x80:
        out.append((ux & 0x7F) | 0x80)
        ux >>= 7
    out.append(ux)
    if len(out) > size:
        raise ValueError(f"{n} needs {len(out)} bytes, the key has {size}")
    return bytes(out) + bytes(size - len(out))
