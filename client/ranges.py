"""Key ranges as etcd spells them: [key, range_end), with `range_end` empty for one key,
b"\\0" for "every key from `key` on", and the prefix end computed as clientv3.GetPrefixRangeEnd
does (last byte + 1 after dropping trailing 0xff; all-0xff or empty means b"\\0")."""
from __future__ import annotations

from petcd.common.kv import FROM_KEY, prefix_end  # noqa: F401  (re-exported for the client)


def to_bytes(s: bytes | str) -> bytes:
    return s.encode() if isinstance(s, str) else bytes(s)


def key_range(key: bytes | str, range_end: bytes | str | None = None, *, prefix: bool = False,
              from_key: bool = False) -> tuple[bytes, bytes]:
    """(key, range_end) for a request. `prefix` with an empty key means every key, as etcdctl
    does for `get "" --prefix`."""
    k = to_bytes(key)
    if prefix:
        if not k:
            return FROM_KEY, FROM_KEY
        return k, prefix_end(k)
    if from_key:
        if not k:
            k = FROM_KEY
        return k, FROM_KEY
    return k, to_bytes(range_end) if range_end is not None else b""
