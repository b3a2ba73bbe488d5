"""A content-addressed cache of raw judge replies in one SQLite file (principle 6).

Keys are hashes of the full request, so no call is paid twice and a changed request can
never hit a stale reply. Replies are stored raw, not parsed: a new parser re-reads them
without new calls. Several processes (Ray workers judging trials of one sweep) may share
the file: WAL lets readers run beside a writer, the busy timeout makes writers queue
instead of failing, and every write is one short INSERT OR IGNORE, so the first complete
reply for a key wins (identical requests give interchangeable replies). WAL needs a local
file system; do not put the cache on NFS.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
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


@dataclass(frozen=True)
class CachedReply:
    text: str
    logprobs: list[Any] | None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None  # the model id the endpoint reports, which may differ from the request
    created: float = field(default_factory=time.time)


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
        _, text, logprobs, prompt_tokens, completion_tokens, model, created = row
        parsed = None if logprobs is None else json.loads(logprobs)
        return CachedReply(text, parsed, prompt_tokens, completion_tokens, model, created)

    def put(self, key: str, reply: CachedReply) -> None:
        """Store a successful reply; a key already stored keeps its first reply."""
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
        with self._lock:
            # Autocommit: this one statement is the whole transaction, so locks are brief.
            self._conn.execute(
                f"INSERT OR IGNORE INTO replies ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row
            )

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


def _check_reply(key: str, reply: CachedReply) -> None:
    """Only complete replies under hash keys: errors and raw requests never enter the file."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError("judge cache keys are request_key() hashes (64 lowercase hex digits)")
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
