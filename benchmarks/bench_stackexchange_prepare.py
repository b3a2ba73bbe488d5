"""Throughput and peak memory of the Stack Exchange pool builder on synthetic dumps.

    python benchmarks/bench_stackexchange_prepare.py [--posts 200000] [--workers N]
        [--sizes 50000,200000,400000]

Writes a multi-site dump (one site as a .7z archive) at two sizes, posts/4 and posts, and
builds the pool from each in its own subprocess with every filter on (all eligible records),
then runs the whole `prepare` path (build, sample a pool of --pool-size records, write it and
its manifest) in another, so each run's peak
RSS (the kernel's high-water mark) is its own. Peak memory should not grow with the dump:
it is bounded by one filter batch, SQLite's page cache and py7zr's decompression buffers
(the largest site is the archive; py7zr's peak varies by ~20 MB with where its chunks fall,
so compare a third, larger size to see the plateau).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SITES = 8
POSTS_PER_QUESTION = 3.85  # 1 question + ~2.85 answers with answers_per_question=3


def _dump_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def build(folder: Path, work_dir: Path, workers: int | None) -> dict[str, float]:
    """One build, consumed to the end, in this process; its figures."""
    from ablate.config.schema import PoolConfig
    from ablate.data.build import BuildStats
    from ablate.data.sources.stackexchange import build_stackexchange

    pool = PoolConfig(source="stackexchange", path=str(folder))
    stats = BuildStats()
    start = time.perf_counter()
    kept = sum(1 for _ in build_stackexchange(pool, "train", stats, work_dir, workers=workers))
    seconds = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN is the largest finished worker.
    return {
        "seconds": seconds,
        "kept": kept,
        "questions": stats.seen,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def prepare(folder: Path, pools_dir: Path, pool_size: int) -> dict[str, float]:
    """The whole `ablate data prepare` path for one pool of LIMA's size: build, sample, write
    records.jsonl and the manifest (lengths, duplicates, diversity), in this process."""
    from ablate.config.schema import PoolConfig
    from ablate.data.pools import prepare_pool, read_manifest

    pool = PoolConfig(source="stackexchange", path=str(folder), size=pool_size)
    start = time.perf_counter()
    manifest = read_manifest(prepare_pool("bench", pool, pools_dir))
    return {
        "prepare_s": time.perf_counter() - start,
        "pool_records": manifest["stats"]["records"],
        "prepare_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(
    mode: str, folder: Path, work: Path, workers: int | None, pool_size: int
) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        f"--{mode}",
        str(folder),
        str(work),
        "--pool-size",
        str(pool_size),
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _run(posts: int, root: Path, workers: int | None, pool_size: int = 2000) -> dict[str, float]:
    from ablate.data.fixtures.dumps import write_stackexchange_dump

    folder = root / f"dump-{posts}"
    start = time.perf_counter()
    counts = write_stackexchange_dump(
        folder,
        sites=SITES,
        questions_per_site=max(1, round(posts / SITES / POSTS_PER_QUESTION)),
        seed=0,
        archive_sites=1,
    )
    written = time.perf_counter() - start
    figures = _child("child", folder, root / f"work-{posts}", workers, pool_size)
    figures |= _child("prepare-child", folder, root / f"pools-{posts}", workers, pool_size)
    figures.update(posts=counts["posts"], dump_mb=_dump_mb(folder), write_s=written)
    return figures


def _table(rows: list[dict[str, float]]) -> str:
    head = (
        "posts",
        "dump MB",
        "write s",
        "build s",
        "posts/s",
        "questions",
        "kept",
        "peak RSS MB",
        "workers' peak RSS MB",
        "prepare s (pool)",
        "prepare peak RSS MB",
    )
    lines = [" | ".join(head), " | ".join("-" * len(h) for h in head)]
    for r in rows:
        cells = (
            f"{r['posts']:,}",
            f"{r['dump_mb']:.0f}",
            f"{r['write_s']:.1f}",
            f"{r['seconds']:.1f}",
            f"{r['posts'] / r['seconds']:,.0f}",
            f"{r['questions']:,}",
            f"{r['kept']:,}",
            f"{r['rss_mb']:.0f}",
            f"{r['workers_rss_mb']:.0f}",
            f"{r['prepare_s']:.1f} ({r['pool_records']:,})",
            f"{r['prepare_rss_mb']:.0f}",
        )
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200_000, help="posts in the larger dump")
    parser.add_argument(
        "--sizes",
        type=lambda v: [int(x) for x in v.split(",")],
        help="comma-separated dump sizes in posts (default: posts/4,posts)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="answer-converting processes (default: one per core)",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=2000,
        help="records the prepared pool samples (LIMA's 2,000 by default)",
    )
    parser.add_argument("--child", nargs=2, metavar=("DUMP", "WORK"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(build(Path(args.child[0]), Path(args.child[1]), args.workers)))
        return
    if args.prepare_child:
        dump, pools = args.prepare_child
        print(json.dumps(prepare(Path(dump), Path(pools), args.pool_size)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-se-") as tmp:
        sizes = args.sizes or [args.posts // 4, args.posts]
        rows = [_run(n, Path(tmp), args.workers, args.pool_size) for n in sizes]
    print(_table(rows))


if __name__ == "__main__":  # the guard also keeps spawned workers from re-running main()
    main()
