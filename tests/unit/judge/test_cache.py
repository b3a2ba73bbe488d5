"""The judge reply cache: keys, round trips, several writing processes, what the file holds."""

from __future__ import annotations

import multiprocessing
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ablate.errors import UserError
from ablate.judge.cache import CachedReply, JudgeCache, request_key

MESSAGES = [{"role": "system", "content": "Grade."}, {"role": "user", "content": "Q and A"}]
DECODING = {"temperature": 0.0, "max_tokens": 512, "logprobs": True, "top_logprobs": 20}


def _key(**changes: Any) -> str:
    args: dict[str, Any] = {
        "model_id": "gpt-4o-mini-2024-07-18",
        "messages": MESSAGES,
        "decoding": DECODING,
        "template_version": "likert-v1",
    }
    args.update(changes)
    return request_key(**args)


def test_key_changes_with_every_part_of_the_request() -> None:
    base = _key()
    variants = [
        _key(model_id="gpt-4o-2024-08-06"),
        _key(messages=[*MESSAGES[:1], {"role": "user", "content": "Q and B"}]),
        _key(messages=MESSAGES[1:]),
        _key(messages=MESSAGES[::-1]),  # conversation order counts
        _key(decoding={**DECODING, "temperature": 0.7}),
        _key(decoding={**DECODING, "max_tokens": 1024}),
        _key(template_version="likert-v2"),
    ]
    assert len({base, *variants}) == 1 + len(variants)


def test_key_ignores_dict_order_and_number_spelling() -> None:
    reordered_messages = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    reordered_decoding = dict(reversed(list(DECODING.items())))
    assert _key(messages=reordered_messages, decoding=reordered_decoding) == _key()
    assert _key(decoding={**DECODING, "temperature": 0}) == _key()
    assert len(_key()) == 64 and int(_key(), 16) >= 0


def test_round_trip(tmp_path: Path) -> None:
    reply = CachedReply(
        text="Reasoning...\n5",
        logprobs=[
            {"token": "5", "logprob": -0.1, "top_logprobs": [{"token": "5", "logprob": -0.1}]}
        ],
        prompt_tokens=321,
        completion_tokens=45,
        model="gpt-4o-mini-2024-07-18",
        created=1700000000.5,
    )
    with JudgeCache(tmp_path / "judge.sqlite") as cache:
        assert cache.get(_key()) is None
        cache.put(_key(), reply)
        assert cache.get(_key()) == reply
        assert cache.stats() == {"entries": 1, "hits": 1, "misses": 1}
    with JudgeCache(tmp_path / "judge.sqlite") as reopened:  # it persists
        assert reopened.get(_key()) == reply


def test_first_reply_wins(tmp_path: Path) -> None:
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        cache.put(_key(), CachedReply("first", None, None, None, None))
        cache.put(_key(), CachedReply("second", None, None, None, None))
        reply = cache.get(_key())
        assert reply is not None and reply.text == "first"
        assert reply.logprobs is None and reply.created > 0


@pytest.mark.parametrize(
    "reply",
    [
        CachedReply(None, None, None, None, None),  # type: ignore[arg-type]
        CachedReply(b"5", None, None, None, None),  # type: ignore[arg-type]
        CachedReply("5", {"not": "a list"}, None, None, None),  # type: ignore[arg-type]
        CachedReply("5", None, "12", None, None),  # type: ignore[arg-type]
    ],
)
def test_put_refuses_what_is_not_a_reply(tmp_path: Path, reply: CachedReply) -> None:
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(TypeError):
            cache.put(_key(), reply)
        assert cache.stats()["entries"] == 0


def test_put_refuses_keys_that_are_not_hashes(tmp_path: Path) -> None:
    with JudgeCache(tmp_path / "c.sqlite") as cache, pytest.raises(ValueError):
        cache.put("Q and A", CachedReply("5", None, None, None, None))


def test_file_holds_only_hashes_and_replies(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with JudgeCache(path) as cache:
        cache.put(_key(), CachedReply("Reply text", None, 1, 2, "m"))
        cache.begin_sending(_key(template_version="in flight"))
    conn = sqlite3.connect(path)
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    columns = [row[1] for row in conn.execute("PRAGMA table_info(replies)")]
    pending = [row[1] for row in conn.execute("PRAGMA table_info(pending)")]
    conn.close()
    assert sorted(tables) == ["pending", "replies"]
    assert pending == ["key", "sending", "sent"]  # a hash, a random token, a time
    assert columns == [
        "key",
        "text",
        "logprobs",
        "prompt_tokens",
        "completion_tokens",
        "model",
        "created",
    ]
    assert not any(word in c for c in columns for word in ("api", "auth", "secret", "token_"))
    # The request itself is hashed, never stored.
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Reply text" in stored and b"Q and A" not in stored


def test_a_sending_is_recorded_until_its_reply_is_stored(tmp_path: Path) -> None:
    reply = CachedReply("5", None, None, None, None)
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        first = cache.begin_sending(_key())
        assert (first.unseen_before, first.reply, cache.pending()) == (0, None, 1)
        again = cache.begin_sending(_key())  # the first one's reply was never seen
        assert (again.unseen_before, cache.pending()) == (1, 1), "taken over, counted once"
        cache.forget_sending(first)
        assert cache.pending() == 1, "only a sending's own record is forgotten"
        cache.put(_key(), reply)
        assert cache.pending() == 0
        late = cache.begin_sending(_key())  # e.g. another process's miss: stored meanwhile
        assert late.reply == cache.get(_key()) and cache.pending() == 0
        other = cache.begin_sending(_key(template_version="other"))
        cache.forget_sending(other)  # certainly not billed
        assert cache.pending() == 0
        assert cache.begin_sending(_key(template_version="other")).unseen_before == 0


def test_a_cache_file_of_the_earlier_format_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    # Exactly what the first version created: one table, user_version 1, WAL.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "CREATE TABLE replies (key TEXT PRIMARY KEY NOT NULL, text TEXT NOT NULL, logprobs TEXT,"
        " prompt_tokens INTEGER, completion_tokens INTEGER, model TEXT, created REAL NOT NULL)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO replies VALUES (?, 'old reply', NULL, 3, 1, 'm', 1.0)", (_key(),))
    conn.close()
    with JudgeCache(path) as cache:
        old = cache.get(_key())
        assert old is not None and old.text == "old reply"
        cache.begin_sending(_key(template_version="new"))
        assert cache.pending() == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1, "older ablates still read it"
    conn.close()


def test_cache_pickles_by_path(tmp_path: Path) -> None:
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        cache.put(_key(), CachedReply("5", None, None, None, None))
        clone = pickle.loads(pickle.dumps(cache))
    with clone:
        assert clone.get(_key()) is not None


def test_a_file_that_is_not_a_cache_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database" * 100)
    with pytest.raises(UserError, match=r"notes\.sqlite"):
        JudgeCache(path)


WORKERS, UNIQUE, SHARED = 4, 150, 50


def _writer(path: str, worker: int, barrier: Any, results: Any) -> None:
    """Open together, then interleave puts and gets; report what was read or the error."""
    try:
        barrier.wait()
        seen: dict[str, str] = {}
        with JudgeCache(Path(path), timeout_s=30) as cache:
            for i in range(max(UNIQUE, SHARED)):
                keys = []
                if i < UNIQUE:
                    keys.append((_key(template_version=f"w{worker}-{i}"), f"w{worker}-{i}"))
                if i < SHARED:  # every worker requests these: the first reply wins
                    keys.append((_key(template_version=f"shared-{i}"), f"w{worker}"))
                for key, text in keys:
                    cache.begin_sending(key)  # as the judge does before each request
                    cache.put(key, CachedReply(text, None, None, None, None))
                    got = cache.get(key)
                    assert got is not None, f"lost {key}"
                    seen[key] = got.text
        results.put((worker, seen))
    except BaseException as exc:  # report, so the parent fails with the reason
        results.put((worker, repr(exc)))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    processes = [
        context.Process(target=_writer, args=(str(path), w, barrier, results))
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    reports = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    errors = {w: r for w, r in reports.items() if isinstance(r, str)}
    assert not errors
    with JudgeCache(path) as cache:
        assert cache.stats()["entries"] == WORKERS * UNIQUE + SHARED
        assert cache.pending() == 0, "every stored reply cleared its record"
        for seen in reports.values():
            for key, text in seen.items():
                stored = cache.get(key)
                # A reply once read never changes: every worker saw the winner.
                assert stored is not None and stored.text == text
