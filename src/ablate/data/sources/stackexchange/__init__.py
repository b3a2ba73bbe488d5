"""The Stack Exchange pool source (LIMA section 2.1): per-site dumps in, prompt/response
records out, each filter a switch and every removal counted.

Two passes, both with bounded memory:
1. per site: Posts.xml -> a scratch SQLite file (dump.py) -> each question with its top
   answer, through the filters (filters.py) -> the eligible records, in the site's question
   order, appended to one store in work_dir;
2. draw sites (se_sampling; the weights need every site's eligible count, hence two
   passes) and take each drawn site's next eligible record.

Empty input is not passed over in silence. A site whose Posts.xml has no rows (a valid
`<posts></posts>`: an empty export or a bad extraction), or rows but no questions, gets a
warning in the build stats (the pool manifest shows it; `ablate data prepare` prints it).
When no site has a single question there is nothing to build from: a UserError naming the
folder, rather than an empty pool. A pool that ends up with 0 records although the dumps
had questions (the filters removed them all, or `size` is 0) is built, with a warning:
its manifest's removal counts are what to look at.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from ablate.config.schema import PoolConfig
from ablate.data.build import EMPTY_POOL, BuildStats, Record
from ablate.data.sources.spec import PoolSource, positive
from ablate.data.sources.stackexchange.dump import (
    Candidate,
    RowCount,
    SiteDump,
    candidates,
    find_sites,
    load_posts,
    posts_file,
    question_count,
    rows,
)
from ablate.data.sources.stackexchange.filters import FilterRunner, switches_on
from ablate.data.sources.stackexchange.html_text import html_to_text
from ablate.data.sources.stackexchange.sampling import draw_order, group_of, group_shares
from ablate.errors import UserError

PROMPT_FROM = ("title", "body", "random")
# Records dropped only because the pool's size was reached: counted so that the removal
# counts still add up to seen - kept (BuildStats).
NOT_SAMPLED = "not_sampled"
_BATCH = 2_048  # questions filtered at a time: bounds memory, yet feeds the workers


def _check(pool: PoolConfig) -> Path:
    if not pool.path:
        raise UserError("pool source 'stackexchange' needs `path`: a folder of per-site "
                        "dumps (<site>.7z archives or <site>/Posts.xml folders).")
    if pool.prompt_from not in PROMPT_FROM:
        raise UserError(f"prompt_from: {pool.prompt_from!r} is not one of {PROMPT_FROM}.")
    if pool.sampling.temperature <= 0:
        raise UserError(f"sampling.temperature: must be > 0, got {pool.sampling.temperature}.")
    if pool.size is not None and pool.size < 0:
        raise UserError(f"size: must be >= 0 or null (all), got {pool.size}.")
    return Path(pool.path)


def _open_store(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    store = sqlite3.connect(path)
    store.executescript(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
        "CREATE TABLE eligible (site TEXT, pos INT, qid INT, qscore INT, ascore INT,"
        " title TEXT, body TEXT, response TEXT, PRIMARY KEY (site, pos));")
    return store


def _batches(items: Iterator[Candidate], size: int) -> Iterator[list[Candidate]]:
    """Lists of up to `size` items. One list is reused, so the previous batch is released
    before the next is read: peak memory is one batch, not two."""
    batch: list[Candidate] = []
    while True:
        batch.extend(islice(items, size))
        if not batch:
            return
        yield batch
        batch.clear()


def _store_batch(batch: list[Candidate], site: str, count: int, runner: FilterRunner,
                 stats: BuildStats, store: sqlite3.Connection) -> int:
    """Filter one batch, append its eligible records after the site's `count` earlier ones;
    the new count. (A function of its own so the batch's texts are freed on return.)"""
    verdicts = runner.verdicts([(c.ascore, c.answer_html, c.title) for c in batch])
    kept: list[tuple] = []
    for c, (rule, text) in zip(batch, verdicts, strict=True):
        if rule is not None:
            stats.drop(rule)
            continue
        kept.append((site, count + len(kept), c.qid, c.qscore, c.ascore, c.title, c.body_html,
                     text))
    stats.seen += len(batch)
    store.executemany("INSERT INTO eligible VALUES (?,?,?,?,?,?,?,?)", kept)
    return count + len(kept)


def _filter_site(site: SiteDump, pool: PoolConfig, stats: BuildStats,
                 store: sqlite3.Connection, work_dir: Path, runner: FilterRunner) -> int | None:
    """Run one site's questions through the filters into the store; its eligible count, or
    None when its Posts.xml holds no questions (a warning says so)."""
    db_path = work_dir / f"{site.name}.sqlite"
    count = 0
    try:
        with posts_file(site, work_dir) as (xml_path, label):
            posts = RowCount(rows(xml_path, label))
            db = load_posts(posts, db_path, site.name, pool.seed)
        try:
            if not question_count(db):
                stats.warn(_no_questions(site, label, posts.count))
                return None
            for batch in _batches(candidates(db, pool.filters.top_questions), _BATCH):
                count = _store_batch(batch, site.name, count, runner, stats, store)
            store.commit()
        finally:
            db.close()
    finally:
        db_path.unlink(missing_ok=True)
    return count


def _no_questions(site: SiteDump, label: str, row_count: int) -> str:
    held = ("has no rows" if not row_count else
            f"has {row_count:,} row(s) but no questions (PostTypeId 1)")
    return (f"site '{site.name}': {label} {held}, so the site adds nothing to the pool; "
            "check that its archive downloaded completely and Posts.xml was extracted from it "
            "(an empty <posts></posts> is an empty export: download the site again).")


def _prompt(pool: PoolConfig, site: str, qid: int, title: str, body_html: str) -> str:
    """The title or the converted body. "random" flips a coin keyed on the question, so a
    record's prompt does not depend on which other records were drawn."""
    rng = random.Random(f"ablate.se.prompt\x1f{pool.seed}\x1f{site}\x1f{qid}")
    use_body = pool.prompt_from == "body" or (
        pool.prompt_from == "random" and rng.random() < 0.5)
    prompt = html_to_text(body_html) if use_body else title.strip()
    # A question without a body (or title) still has the other half to ask with.
    return prompt or title.strip() or html_to_text(body_html)


def _sample(store: sqlite3.Connection, sizes: dict[str, int], groups: dict[str, str],
            pool: PoolConfig, stats: BuildStats) -> Iterator[Record]:
    taken = dict.fromkeys(sizes, 0)
    sampling = pool.sampling
    for site in draw_order(sizes, groups, pool.size, sampling.temperature,
                           sampling.balance_groups, pool.seed):
        qid, qscore, ascore, title, body, response = store.execute(
            "SELECT qid, qscore, ascore, title, body, response FROM eligible"
            " WHERE site = ? AND pos = ?", (site, taken[site])).fetchone()
        taken[site] += 1
        stats.kept_by_group[site] += 1
        yield {"id": f"{site}-{qid}", "prompt": _prompt(pool, site, qid, title, body),
               "response": response, "site": site, "group": groups[site],
               "question_score": qscore, "answer_score": ascore}
    left = sum(sizes.values()) - sum(taken.values())
    if left:
        stats.removed[NOT_SAMPLED] += left
    if not sum(taken.values()):
        why = ("size is 0" if pool.size == 0 else
               f"the filters removed all {stats.seen:,} question(s); see the removed counts and "
               "check the filter settings (filters.*) and the dumps")
        stats.warn(f"{EMPTY_POOL}: {why}.")


def _notes(pool: PoolConfig, sizes: dict[str, int], groups: dict[str, str]) -> dict:
    f, s = pool.filters, pool.sampling
    return {
        "filters_on": switches_on(f),
        "filter_settings": {"min_answer_score": f.min_answer_score,
                            "min_answer_chars": f.min_answer_chars,
                            "max_answer_chars": f.max_answer_chars},
        "prompt_from": pool.prompt_from,
        "sampling": {"temperature": s.temperature, "balance_groups": s.balance_groups,
                     "groups": groups, "eligible": sizes,
                     "shares": group_shares(sizes, groups, s.temperature, s.balance_groups)},
    }


def _cores() -> int:
    # The cores this process may use (a container or `taskset` can allow fewer than exist).
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _build(sites: list[SiteDump], pool: PoolConfig, stats: BuildStats, work_dir: Path,
           workers: int) -> Iterator[Record]:
    groups = {site.name: group_of(site.name, pool.sampling.stem_sites) for site in sites}
    store_path = work_dir / "stackexchange-eligible.sqlite"
    store = _open_store(store_path)
    runner = FilterRunner(pool.filters, workers)
    try:
        counts = {site.name: _filter_site(site, pool, stats, store, work_dir, runner)
                  for site in sites}
        if all(count is None for count in counts.values()):
            raise UserError(
                f"{pool.path}: no question in any site's Posts.xml (sites: "
                f"{', '.join(sorted(counts))}), so there is nothing to build the pool from. "
                "Check that the folder is the one with the dumps, that each archive "
                "downloaded completely and that Posts.xml was extracted from it (an empty "
                "<posts></posts> is an empty export: download the site again).")
        sizes = {name: count or 0 for name, count in counts.items()}
        runner.close()  # the workers' memory is not needed while sampling
        stats.notes.update(_notes(pool, sizes, groups))
        yield from _sample(store, sizes, groups, pool, stats)
    finally:
        runner.close()
        store.close()
        store_path.unlink(missing_ok=True)


def build_stackexchange(pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path,
                        *, workers: int | None = None) -> Iterator[Record]:
    """Records {"id", "prompt", "response", "site", "group", "question_score",
    "answer_score"} from the dumps under pool.path, filtered and sampled as LIMA did.

    Settings and the dump folder are checked at call time (a UserError); the dumps are read
    when iteration starts. `split` does not change the records (a dump has no splits); the
    pool's selection decides what is trained on. Scratch files go to work_dir (one build at
    a time per folder) and are removed at the end. `workers`: processes converting answers
    on big dumps (None: one per available core).
    """
    sites = find_sites(_check(pool))
    work_dir.mkdir(parents=True, exist_ok=True)
    return _build(sites, pool, stats, work_dir, workers or _cores())


def _sampling_problems(path: str, pool: PoolConfig) -> list[str]:
    problems = []
    if pool.prompt_from not in ("body", "random", "title"):
        problems.append(
            f"{path}.prompt_from: '{pool.prompt_from}' is not one of ['body', 'random', 'title']."
        )
    problems += positive(f"{path}.sampling.temperature", pool.sampling.temperature)
    f = pool.filters
    if f.min_answer_chars > f.max_answer_chars:
        problems.append(f"{path}.filters.min_answer_chars: larger than max_answer_chars")
    return problems


SOURCE = PoolSource(
    "stackexchange",
    lambda pool, split, stats, work_dir: build_stackexchange(pool, split, stats, work_dir),
    settings=("size", "seed", "filters", "sampling", "prompt_from"),
    path_kind="folder",
    external=True,
    checks=_sampling_problems,
)
