"""Pools materialised once per (source, settings, source files) and cached by that key.

<results>/pools/<source>-<key>/ holds records.jsonl and manifest.json (what each rule
removed, groups, lengths, duplicates, diversity, provenance). The key hashes the pool's
settings and its source files' provenance (size and a hash of the first and last MiB, so a
copied dump keeps its key but a changed one is noticed). A pool is built in a hidden temporary
folder and renamed into place when complete: a failed build leaves no half-written pool.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record
from ablate.data.sources import source
from ablate.errors import UserError
from ablate.files import atomic_write_json, read_json, stable_hash

POOL_BUILD_VERSION = 2  # bump when building changes its output (2: links, escapes, lists, <hr>)
RECORDS, MANIFEST = "records.jsonl", "manifest.json"
EDGE_BYTES = 1 << 20  # provenance hashes the first and last MiB of each source file


def _head_tail_hash(path: Path) -> str:
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as handle:
        digest.update(handle.read(EDGE_BYTES))
        if size > 2 * EDGE_BYTES:
            handle.seek(size - EDGE_BYTES)
        digest.update(handle.read())
    return digest.hexdigest()


def provenance(pool: PoolConfig) -> list[dict[str, Any]]:
    """The source files behind a pool, identified by size and content edges (not mtimes)."""
    location = pool.path or (pool.dataset if pool.source == "hf" else None)
    if not location or not Path(location).exists():
        return []  # synthetic pools, or hub datasets identified by name
    root = Path(location)
    files = (
        [root]
        if root.is_file()
        else sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    )
    try:
        return [
            {
                "file": str(p.relative_to(root)) if p != root else p.name,
                "bytes": p.stat().st_size,
                "sha256_head_tail": _head_tail_hash(p),
            }
            for p in files
        ]
    except OSError as exc:
        raise UserError(f"{location}: cannot read the pool's source files ({exc}).") from None


def pool_settings(pool: PoolConfig) -> dict[str, Any]:
    """The settings that change the pool's records (its source says which)."""
    return source(pool.source).key_settings(pool)


def pool_key(pool: PoolConfig) -> str:
    files = provenance(pool)
    if pool.path and Path(pool.path).is_file():  # one file: its name is not its content
        files = [{k: v for k, v in entry.items() if k != "file"} for entry in files]
    return stable_hash([POOL_BUILD_VERSION, pool_settings(pool), files])


def pool_folder(pools_dir: Path, pool: PoolConfig) -> Path:
    return pools_dir / f"{pool.source}-{pool_key(pool)}"


def fingerprints(
    pools: dict[str, PoolConfig], evaluation: PoolConfig
) -> tuple[dict[str, str], str]:
    """Each pool's key, and the evaluation prompts' (ablate.checks.plan_fingerprints adds the
    evaluation's tasks and dialogues)."""
    return {name: pool_key(p) for name, p in pools.items()}, pool_key(evaluation)


def _write_records(records: Any, path: Path, stats: BuildStats) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            if "response" not in record:
                stats.drop("no_response")
                continue
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def _manifest(
    name: str,
    pool: PoolConfig,
    key: str,
    stats: BuildStats,
    records_path: Path,
    embedding_model: str | None,
) -> dict[str, Any]:
    from ablate.data.stats import pool_statistics

    return {
        "pool": {
            "name": name,
            "source": pool.source,
            "key": key,
            "settings": pool_settings(pool),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "build": stats.as_dict(),
        "stats": pool_statistics(iter_records(records_path), embedding_model, seed=pool.seed),
        "provenance": provenance(pool),
    }


def prepare_pool(
    name: str, pool: PoolConfig, pools_dir: Path, embedding_model: str | None = None
) -> Path:
    """The pool's folder, built now unless a complete one with the same key exists."""
    key = pool_key(pool)
    final = pools_dir / f"{pool.source}-{key}"
    if (final / MANIFEST).is_file():
        return final
    tmp = pools_dir / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    (tmp / "work").mkdir(parents=True)
    try:
        stats = BuildStats()
        builder = source(pool.source).build
        _write_records(builder(pool, "train", stats, tmp / "work"), tmp / RECORDS, stats)
        shutil.rmtree(tmp / "work")
        manifest = _manifest(name, pool, key, stats, tmp / RECORDS, embedding_model)
        atomic_write_json(tmp / MANIFEST, manifest)
        try:
            tmp.rename(final)
        except OSError:  # another process built the same pool first: same key, same content
            if not (final / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def iter_records(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def read_pool_records(folder: Path) -> list[Record]:
    return list(iter_records(folder / RECORDS))


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UserError(
            f"{folder}: not a prepared pool (no {MANIFEST}); prepare pools with "
            "`ablate data prepare SWEEP_OR_EXPERIMENT`."
        )
    return read_json(path)
