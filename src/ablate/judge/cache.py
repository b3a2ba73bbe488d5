"""A content-addressed cache of raw judge replies in one SQLite file (CONTRIBUTING.md, principle 6).

Keys are hashes of the full request, so no call is paid twice and a changed request can
never hit a stale reply. Replies are stored raw, not parsed: a new parser re-reads them
without new calls. Several processes (Ray workers judging trials of one sweep) may share
the file: WAL lets readers run beside a writer, the busy timeout makes writers queue
instead of failing, and every write is one short INSERT OR IGNORE, so the first complete
reply for a key wins (identical requests give interchangeable replies). WAL needs a local
file system; do not put the cache on NFS.

Calls in flight (the pending table). A reply the server sent that never reached the file (the
process was killed, the call timed out) was paid for all the same, and a later run pays again.
That cannot be prevented, only counted: before a request is sent, begin_sending() records its
key, a random token for this sending and the time, in one short transaction that also checks
that no other process stored the reply meanwhile. put() stores a reply and clears its key's
record in one transaction; forget_sending() clears a record when the call failed in a way the
server certainly did not bill (see openai_judge.py). A record still there when the key is sent
again means an earlier sending may have been billed with its reply lost: begin_sending() takes
it over (deletes it, so it is counted once) and reports it, and the judge counts it in
judge_calls_maybe_repaid. One record per key: a concurrent sender of the same key takes the
first one over, and one of the two counts the duplicate. The table holds hashes, random tokens
and times only. It was added without changing SCHEMA_VERSION: CREATE TABLE IF NOT EXISTS
upgrades an older file in place, and an older ablate reading a newer file ignores the table.

Durability: synchronous = NORMAL under WAL makes every committed transaction survive the death
of the process (SIGKILL, out of memory, a lost Ray worker), which is what the record is for; a
power cut or kernel crash may lose the last transactions (a few records and replies), which
FULL would keep at the price of an fsync per call.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate.errors import UserError

# Part of every key: changing how keys are built must never reuse old entries.
KEY_SCHEMA = "ablate-judge-request-v1"
SCHEMA_VERSION = 1
_KEY = re.compile(r"[0-9a-f]{64}")
_COLUMNS = "key, text, logprobs, prompt_tokens, completion_tokens, model, created"
# Only what put() receives; there is deliberately no column for credentials or endpoints.
_CREATE = """CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY NOT NULL,
    text TEXT NOT NULL,
    logprobs TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    model TEXT,
    created REAL NOT NULL
)"""
# Requests sent whose reply is not stored yet (see the module docstring). `sending` is random.
# WITHOUT ROWID: the key is the table's only b-tree, so each write touches fewer pages.
_CREATE_PENDING = """CREATE TABLE IF NOT EXISTS pending (
    key TEXT PRIMARY KEY NOT NULL,
    sending TEXT NOT NULL,
    sent REAL NOT NULL
) WITHOUT ROWID"""


@dataclass(frozen=True)
class CachedReply:
    text: str
    logprobs: list[Any] | None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None  # the model id the endpoint reports, which may differ from the request
    created: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Sending:
    """One request recorded as sent by begin_sending()."""

    key: str
    token: str  # this sending's record; forget_sending() deletes only it
    # Earlier sendings of this key recorded without a reply (0 or 1): their replies may have
    # been billed and lost, and this sending pays again.
    unseen_before: int
    # The reply another process stored since our cache miss: nothing to send.
    reply: CachedReply | None = None


def _canonical(value: Any) -> Any:
    """Equal requests in one form: 0.0 and 0 are the same temperature."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_key(
    model_id: str,
    messages: list[dict[str, str]],
    decoding: dict[str, Any],
    template_version: str,
) -> str:
    """sha256 of the canonical JSON of everything that decides the reply."""
    request = {
        "schema": KEY_SCHEMA,
        "model": model_id,
        "messages": messages,
        "decoding": decoding,
        "template_version": template_version,
    }
    # Sorted keys make dict order irrelevant; list order (the conversation) still counts.
    canonical = json.dumps(
        _canonical(request),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class JudgeCache:
    def __init__(self, path: Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        # One connection per instance; the lock serialises threads of one process
        # (a backend may send requests from a thread pool), SQLite serialises processes.
        self._lock = threading.Lock()
        self._hits = self._misses = 0
        # Tokens unique across processes and instances: a random prefix and a counter.
        self._tokens = (f"{os.urandom(8).hex()}-{n}" for n in itertools.count())
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Switching to WAL and creating the table take locks SQLite does not wait for (its busy
        # handler is not consulted), so workers opening one new cache at once could fail with
        # "database is locked": one process at a time does the set-up.
        with FileLock(f"{self.path}.setup.lock", timeout=self.timeout_s):
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = None
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is safe under WAL: a power cut can lose the last replies, never corrupt.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_CREATE)
            conn.execute(_CREATE_PENDING)  # absent from files of earlier versions: added here
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                conn.close()
                raise UserError(
                    f"{self.path}: judge cache of format {version}, this ablate reads "
                    f"format {SCHEMA_VERSION}; move the file away or choose another cache path."
                )
        except (sqlite3.DatabaseError, OSError) as exc:
            if conn is not None:
                conn.close()
            raise UserError(
                f"{self.path}: cannot use as a judge cache ({exc}); it must be a writable "
                "SQLite file on a local disk. Move it away or choose another cache path."
            ) from None
        return conn

    def get(self, key: str) -> CachedReply | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM replies WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                self._misses += 1
                return None
            self._hits += 1
        return _reply(row)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding this instance's lock; short, so writers barely queue.

        IMMEDIATE takes the write lock at BEGIN: a read-then-write transaction that only took it
        later could fail with "database is locked" instead of waiting for another process."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def begin_sending(self, key: str) -> Sending:
        """Record that `key` is about to be sent; call it before the request leaves.

        In the same transaction: a reply stored meanwhile (by another process) is returned
        instead, and an earlier record of the key, a sending whose reply was never seen, is
        taken over and reported as unseen_before."""
        _check_key(key)
        token = next(self._tokens)
        with self._transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM replies WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return Sending(key, token, 0, _reply(row))
            earlier = conn.execute("DELETE FROM pending WHERE key = ?", (key,)).rowcount
            conn.execute(
                "INSERT INTO pending (key, sending, sent) VALUES (?, ?, ?)",
                (key, token, time.time()),
            )
        return Sending(key, token, earlier)

    def forget_sending(self, sending: Sending) -> None:
        """Clear a record whose request was certainly not billed (e.g. the server refused it).

        Only this sending's own record: another process may have taken the key over since."""
        with self._lock:
            self._conn.execute(
                "DELETE FROM pending WHERE key = ? AND sending = ?", (sending.key, sending.token)
            )

    def pending(self) -> int:
        """Requests recorded as sent without a stored reply, in the whole file."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def put(self, key: str, reply: CachedReply) -> None:
        """Store a successful reply and clear its key's pending record, in one transaction.

        A key already stored keeps its first reply."""
        _check_reply(key, reply)
        logprobs = None if reply.logprobs is None else json.dumps(reply.logprobs)
        row = (
            key,
            reply.text,
            logprobs,
            reply.prompt_tokens,
            reply.completion_tokens,
            reply.model,
            float(reply.created),
        )
        with self._transaction() as conn:  # two statements, one brief lock
            conn.execute(
                f"INSERT OR IGNORE INTO replies ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row
            )
            conn.execute("DELETE FROM pending WHERE key = ?", (key,))

    def stats(self) -> dict[str, int]:
        """Entries in the file; hits and misses of this instance."""
        with self._lock:
            entries = self._conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
        return {"entries": entries, "hits": self._hits, "misses": self._misses}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[type[JudgeCache], tuple[Path, float]]:
        # A connection cannot cross processes; a Ray worker reopens the file by its path.
        return (JudgeCache, (self.path, self.timeout_s))


def _reply(row: tuple[Any, ...]) -> CachedReply:
    _, text, logprobs, prompt_tokens, completion_tokens, model, created = row
    parsed = None if logprobs is None else json.loads(logprobs)
    return CachedReply(text, parsed, prompt_tokens, completion_tokens, model, created)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError("judge cache keys are request_key() hashes (64 lowercase hex digits)")


def _check_reply(key: str, reply: CachedReply) -> None:
    """Only complete replies under hash keys: errors and raw requests never enter the file."""
    _check_key(key)
    if not isinstance(reply, CachedReply):
        raise TypeError(f"judge cache stores CachedReply, not {type(reply).__name__}")
    if not isinstance(reply.text, str):
        raise TypeError(f"a cached judge reply's text must be a str, not {type(reply.text)}")
    if reply.logprobs is not None and not isinstance(reply.logprobs, list):
        raise TypeError("a cached judge reply's logprobs must be a list or None")
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(reply, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"a cached judge reply's {name} must be an int or None")
    if reply.model is not None and not isinstance(reply.model, str):
        raise TypeError("a cached judge reply's model must be a str or None")
