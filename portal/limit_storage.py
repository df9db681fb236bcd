"""A `limits` storage in a SQLite file, so the workers of one machine share their rate limits.

Flask-Limiter's memory:// keeps a worker's counters to itself: under gunicorn with two workers a
limit of 6 a minute let 12 through. Without Redis, the counters go to a SQLite file in the
instance folder instead (the URI sqlite-limits:///path/to/file), which every process and thread
of the machine reads and writes. It is a file of its own, so counting never waits on the
database's write lock and the database never waits on counting.

Each counter is one row: its count and the moment it expires. Counting is one statement (an
UPSERT ... RETURNING), atomic between threads and processes; SQLite's file lock does the rest.
Expired rows count as absent and are deleted now and then. This implements what the fixed-window
strategy (Flask-Limiter's default, and the portal's) needs; another strategy refuses to start
with this storage rather than count wrongly.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path

from limits.storage import Storage

SCHEME = "sqlite-limits"
# Expired rows are deleted at most this often by each process; until then they are ignored.
PRUNE_EVERY_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at);
"""

# A counter that has expired starts again from the amount, with a new expiry: a new window.
_INCREMENT = """
INSERT INTO counters (key, value, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN counters.expires_at <= :now
        THEN excluded.value ELSE counters.value + excluded.value END,
    expires_at = CASE WHEN counters.expires_at <= :now
        THEN excluded.expires_at ELSE counters.expires_at END
RETURNING value
"""


def uri_for(path: Path) -> str:
    """The storage URI of a file: sqlite-limits:///its/absolute/path."""
    return f"{SCHEME}://{urllib.parse.quote(str(path.resolve()))}"


class SQLiteFileStorage(Storage):
    """Rate-limit counters in a SQLite file shared by the processes of one machine."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        key_prefix: str = "",
        busy_timeout_ms: int = 15_000,
        **options: float | str | bool,
    ) -> None:
        path = urllib.parse.urlparse(uri or "").path
        if not path:
            raise ValueError(f"{SCHEME}:// needs the path of a file, as in {SCHEME}:///tmp/x")
        self.path = Path(urllib.parse.unquote(path))
        self.key_prefix = key_prefix
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._local = threading.local()
        self._next_prune = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # Create the file and table now, on a connection not kept: gunicorn may fork this
        # process, and a SQLite connection must not cross a fork.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        try:
            connection.executescript(_SCHEMA)
        finally:
            connection.close()

    @property
    def storage(self) -> Path:
        """What holds the counters, as `flask limiter config` shows every storage's."""
        return self.path

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def _connect(self) -> sqlite3.Connection:
        # Autocommit: every statement is its own transaction, and no lock outlives it.
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None
        )
        connection.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    @property
    def _connection(self) -> sqlite3.Connection:
        """This thread's connection; a process forked after it was opened opens its own."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.connection = self._connect()
            local.pid = os.getpid()
        connection: sqlite3.Connection = local.connection
        return connection

    def _key(self, key: str) -> str:
        return f"{self.key_prefix}:{key}" if self.key_prefix else key

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        self._prune_now_and_then(now)
        row = self._connection.execute(
            _INCREMENT, {"key": self._key(key), "amount": amount, "now": now, "expiry": expiry}
        ).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        row = self._connection.execute(
            "SELECT value FROM counters WHERE key = ? AND expires_at > ?",
            (self._key(key), time.time()),
        ).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = self._connection.execute(
            "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?",
            (self._key(key), now),
        ).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._connection.execute("SELECT 1 FROM counters LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Delete every counter of this storage's prefix (every counter, without one)."""
        if not self.key_prefix:
            return self._connection.execute("DELETE FROM counters").rowcount
        start = self._key("")
        return self._connection.execute(
            "DELETE FROM counters WHERE substr(key, 1, ?) = ?", (len(start), start)
        ).rowcount

    def clear(self, key: str) -> None:
        self._connection.execute("DELETE FROM counters WHERE key = ?", (self._key(key),))

    def prune(self) -> int:
        """Delete the expired counters; how many there were."""
        return self._connection.execute(
            "DELETE FROM counters WHERE expires_at <= ?", (time.time(),)
        ).rowcount

    def _prune_now_and_then(self, now: float) -> None:
        # Two threads may both prune once in a while; the second deletes nothing.
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_SECONDS
            self.prune()
