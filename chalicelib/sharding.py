"""Which of a fixed number of shards a key belongs to. Stored partition keys are built on this ("<board>#<n>",
"held#<n>", "n#<n>", ...): changing it hides what was already written, so tests/test_sharding.py pins it."""
from __future__ import annotations

import zlib


def shard_of(key: str, shards: int) -> int:
    """crc32 of the key's UTF-8 bytes, modulo shards; 0 when there is one shard (or none configured)."""
    return zlib.crc32(key.encode()) % shards if shards > 1 else 0
