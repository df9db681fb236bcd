"""Where the page cache keeps its counters and its pages (see portal/cache.py).

The counters are the generation (one number for the whole site) and one number per *tag* (an
idea, the lists): a page's key holds the generation and the numbers of the tags it shows.

Without Redis: counters in a memory-mapped file, shared by the workers of one machine, and an
LRU in each worker's memory. With Redis: both in Redis, shared by every worker of every server.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from redis import Redis

Page = tuple[bytes, str]  # a kept page: its body and its media type


class Generation(Protocol):
    def read(self) -> int:
        """The generation."""
        ...

    def bump(self) -> None:
        """Advance the generation: every page is made afresh."""
        ...

    def read_tags(self, tags: Sequence[str]) -> tuple[int, list[int]]:
        """The generation and each tag's number, read together (one round trip)."""
        ...

    def bump_tags(self, tags: Sequence[str]) -> None:
        """Advance these tags' numbers: the pages that show them are made afresh."""
        ...


class Store(Protocol):
    def get(self, key: str) -> Page | None: ...
    def set(self, key: str, value: Page, size: int) -> None: ...


# --- The generation ------------------------------------------------------------------------


class FileGeneration:
    """Counters in a memory-mapped file, shared by the processes of one machine.

    The first slot is the generation; each tag has one of the other slots, chosen by a hash of
    its name. Two tags that share a slot advance together: a page is then made afresh once more
    than it needed, never kept too long.
    """

    SLOTS = 8192

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        size = 8 * self.SLOTS
        with self._locked() as fd:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)  # a file of an older release keeps its generation
        # From a descriptor of its own: mmap keeps a duplicate open, and a duplicate of the
        # locked descriptor would hold the lock for as long as the map lives.
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    def _offset(self, tag: str) -> int:
        return 8 * (1 + zlib.crc32(tag.encode()) % (self.SLOTS - 1))

    def read(self) -> int:
        return struct.unpack_from("<Q", self._map)[0]

    def bump(self) -> None:
        self.bump_tags(())

    def read_tags(self, tags: Sequence[str]) -> tuple[int, list[int]]:
        return self.read(), [struct.unpack_from("<Q", self._map, self._offset(t))[0] for t in tags]

    def bump_tags(self, tags: Sequence[str]) -> None:
        offsets = [self._offset(t) for t in tags] if tags else [0]
        with self._locked():
            for offset in set(offsets):
                struct.pack_into(
                    "<Q", self._map, offset, struct.unpack_from("<Q", self._map, offset)[0] + 1
                )


class RedisGeneration:
    """The generation at key, and each tag's number at key:tag-name."""

    def __init__(self, client: Redis, key: str) -> None:
        self._client, self._key = client, key

    def read(self) -> int:
        return int(self._client.get(self._key) or 0)

    def bump(self) -> None:
        self._client.incr(self._key)

    def read_tags(self, tags: Sequence[str]) -> tuple[int, list[int]]:
        if not tags:
            return self.read(), []
        values = self._client.mget([self._key, *(f"{self._key}:{t}" for t in tags)])
        numbers = [int(v or 0) for v in values]
        return numbers[0], numbers[1:]

    def bump_tags(self, tags: Sequence[str]) -> None:
        if not tags:
            self.bump()
            return
        with self._client.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.incr(f"{self._key}:{tag}")
            pipe.execute()


# --- Where entries are kept ----------------------------------------------------------------


class MemoryStore:
    """An LRU in this process, bounded in bytes, with expiry."""

    def __init__(self, max_bytes: int, ttl: float) -> None:
        self._entries: OrderedDict[str, tuple[float, int, Page]] = OrderedDict()
        self._bytes = 0
        self._max, self._ttl = max_bytes, ttl
        self._lock = threading.Lock()

    def get(self, key: str) -> Page | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def set(self, key: str, value: Page, size: int) -> None:
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (time.monotonic() + self._ttl, size, value)
            self._bytes += size
            while self._bytes > self._max and self._entries:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        self._bytes -= self._entries.pop(key)[1]


class RedisStore:
    """Pages in Redis as their media type, a newline and the body: no pickle, so whoever can
    write to Redis still cannot make this application run anything."""

    def __init__(self, client: Redis, ttl: int) -> None:
        self._client, self._ttl = client, ttl

    def get(self, key: str) -> Page | None:
        raw = self._client.get(key)
        if not isinstance(raw, bytes):  # None when absent; never str, as responses stay bytes
            return None
        mimetype, _, body = raw.partition(b"\n")
        return body, mimetype.decode()

    def set(self, key: str, value: Page, size: int) -> None:
        body, mimetype = value
        self._client.set(key, mimetype.encode() + b"\n" + body, ex=self._ttl)
