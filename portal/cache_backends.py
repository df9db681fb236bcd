"""Where the page cache keeps its generation and its pages (see portal/cache.py).

Without Redis: a counter in a memory-mapped file, shared by the workers of one machine, and an
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
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from redis import Redis

Page = tuple[bytes, str]  # a kept page: its body and its media type


class Generation(Protocol):
    def read(self) -> int: ...
    def bump(self) -> None: ...


class Store(Protocol):
    def get(self, key: str) -> Page | None: ...
    def set(self, key: str, value: Page, size: int) -> None: ...


# --- The generation ------------------------------------------------------------------------


class FileGeneration:
    """A counter in a memory-mapped file, shared by the processes of one machine."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with self._locked() as fd:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
        # From a descriptor of its own: mmap keeps a duplicate open, and a duplicate of the
        # locked descriptor would hold the lock for as long as the map lives.
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, 8)
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

    def read(self) -> int:
        return struct.unpack_from("<Q", self._map)[0]

    def bump(self) -> None:
        with self._locked():
            struct.pack_into("<Q", self._map, 0, self.read() + 1)


class RedisGeneration:
    def __init__(self, client: Redis, key: str) -> None:
        self._client, self._key = client, key

    def read(self) -> int:
        return int(self._client.get(self._key) or 0)

    def bump(self) -> None:
        self._client.incr(self._key)


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
