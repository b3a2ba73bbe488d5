"""Makespan of an 8-trial CPU sweep through `ablate run` against the same stage functions in a
bare loop with the same concurrency, and where the difference goes.

    python benchmarks/bench_orchestration.py [--repeats 3] [--epochs 8] [--sizes 128 256 512 1024]

The sweep: the tiny model and judge of experiments/tiny.yaml, one synthetic arm, 4 sizes x 2
seeds = 8 trials, 2 at a time, one CPU each; at 8 epochs a trial takes 10-45 s on a 2-core
machine. What `ablate run` adds is mostly a fixed cost per command (printed in seconds), so its
share of a sweep of shorter trials is larger: on a quiet 2-core machine ~5-10 s, 18% of a
3-epoch sweep's makespan (55 s) and 3-9% of an 8-epoch one (115-130 s) after the first run,
whose cold start cost 15-25 s (see --repeats).

Both sides start from the same prepared pool (data preparation is neither's cost) and a fresh
results folder, and both are timed as whole processes from their start: the bare side is `python
this-file --bare`, which plans the sweep with the same functions and runs
`ablate.stages.pipeline.run_trial` for each trial in a pool of 2 spawned processes (each imports
torch and transformers once, as Ray's reused workers do). `ablate run` adds on top: its checks,
Ray's start and stop, Ray's worker processes, Tune's scheduling, MLflow (a parent run, one run
per trial as it completes, the analysis), the summary and the report with its plots.

Where the time goes is read from the trials' own done markers (when each stage started and
ended): time before the first trial starts, gaps between trials on a slot, time after the last
trial ends. Ray's start and stop alone are timed too. Prints figures; exits 1 when the
overhead is above --max-overhead (0.10) of the `ablate run` makespan in the median repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
CONCURRENCY = 2


def write_sweep(folder: Path, sizes: list[int], epochs: int) -> Path:
    sweep = folder / "orchestration.yaml"
    sweep.write_text(f"""
name: orchestration
experiment: {REPO / "experiments" / "tiny.yaml"}
training: {{epochs: {epochs}}}
resources: {{cpus_per_trial: 1, max_concurrent_trials: {CONCURRENCY}, max_retries: 0}}
sweep:
  arms: {{synthetic: {{pool: synthetic}}}}
  sizes: {sizes}
  seeds: [0, 1]
""")
    return sweep


def prepare_template(sweep: Path, folder: Path) -> Path:
    """A results folder holding only the prepared pools, copied for every timed run; the tiny
    model is built into the cache here too, so that no timed run builds it."""
    from ablate.api import load_and_plan, prepare_pools
    from ablate.checks import check_environment

    config, _ = load_and_plan(sweep, [], folder)
    check_environment(config)
    prepare_pools(config, folder)
    return folder


def fresh_results(template: Path, folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder)
    return folder


# --- the bare side ----------------------------------------------------------------------------


def _bare_worker_init() -> None:
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)  # as the runner does with cpus_per_trial: 1


def _bare_trial(job: tuple[Any, Any, Path, dict[str, Path]]) -> str:
    from ablate.stages.pipeline import run_trial

    config, trial, folder, pools = job
    run_trial(config, trial, folder, pools, "cpu")
    return str(trial.folder)


def run_bare(sweep: Path, results: Path) -> None:
    """Plan and write the sweep as `ablate run` does, then run its trials, CONCURRENCY at once."""
    import multiprocessing

    from ablate.api import _write_plan, load_and_plan, prepare_pools
    from ablate.layout import trial_dir
    from ablate.plan import plan_id, resolved_config

    config, trials = load_and_plan(sweep, [], results)
    pools = prepare_pools(config, results)  # prepared already: found by key
    sweep_dir = (results / config.name).resolve()
    _write_plan(config, trials, sweep_dir, plan_id(trials))
    jobs = [
        (resolved_config(config, t), t, trial_dir(sweep_dir, t.folder),
         {name: pools[name] for name in t.weights})
        for t in trials
    ]  # fmt: skip
    # Ray starts a worker with OMP_NUM_THREADS set to its CPUs (1 here): without it each
    # process's thread pools would take both cores and the bare side would oversubscribe.
    os.environ["OMP_NUM_THREADS"] = "1"
    context = multiprocessing.get_context("spawn")
    with context.Pool(CONCURRENCY, initializer=_bare_worker_init) as pool:
        list(pool.imap_unordered(_bare_trial, jobs))


# --- timing -----------------------------------------------------------------------------------


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(start, seconds) of a whole process; a failure stops the benchmark with its output."""
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.time() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return start, seconds


def trial_spans(sweep_dir: Path) -> list[tuple[float, float]]:
    """(start, end) of each trial from its stages' done markers (epoch seconds)."""
    spans = []
    for trial in sorted((sweep_dir / "trials").iterdir()):
        starts, ends = [], []
        for marker in trial.rglob("_done.json"):
            done = json.loads(marker.read_text())
            if isinstance(done.get("finished_at"), int | float):
                ends.append(float(done["finished_at"]))
                starts.append(float(done["finished_at"]) - float(done.get("seconds") or 0.0))
        if starts:
            spans.append((min(starts), max(ends)))
    return spans


def phases(start: float, seconds: float, spans: list[tuple[float, float]]) -> dict[str, float]:
    """Before the first trial, inside trials (summed over trials), slot idle time between
    trials (CONCURRENCY slots over the trials' window, less the time in trials), after the last."""
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    busy = sum(e - s for s, e in spans)
    return {
        "total": seconds,
        "before first trial": first - start,
        "in trials (sum)": busy,
        "idle slots between": max(0.0, CONCURRENCY * (last - first) - busy) / CONCURRENCY,
        "after last trial": start + seconds - last,
    }


def ray_start_stop(env: dict[str, str]) -> float:
    code = (
        "import logging, time; t = time.time(); import ray; "
        "ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR); "
        "ray.shutdown(); print(time.time() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else float("nan")


def _print_phases(label: str, p: dict[str, float]) -> None:
    cells = "  ".join(f"{k} {v:6.1f}s" for k, v in p.items())
    print(f"  {label:<10} {cells}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # Three, so that one slow run does not make the median: in two runs of this benchmark the
    # first `ablate run` paid 12-14 s before its first trial and 17-20 s more inside its
    # trials than the bare loop, the later ones 10-12 s and none (a cold start, cause not
    # pinned down); each repeat is printed.
    parser.add_argument("--repeats", type=int, default=3, help="paired runs of both sides")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs=4, default=[128, 256, 512, 1024])
    parser.add_argument("--max-overhead", type=float, default=0.10)
    parser.add_argument("--bare", nargs=2, metavar=("SWEEP", "RESULTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(Path(args.bare[0]), Path(args.bare[1]))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-orchestration-"))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env |= {"ABLATE_CACHE": str(work / "cache"), "PYTHONPATH": str(REPO / "src")}
    os.environ["ABLATE_CACHE"] = env["ABLATE_CACHE"]
    sweep = write_sweep(work, args.sizes, args.epochs)
    template = prepare_template(sweep, work / "template")
    print(f"8 trials (sizes {args.sizes} x 2 seeds, {args.epochs} epochs), {CONCURRENCY} at once")
    ablate_cmd = [sys.executable, "-m", "ablate", "run", str(sweep), "--results-dir"]
    bare_cmd = [sys.executable, str(Path(__file__).resolve()), "--bare", str(sweep)]
    ratios, overheads, seconds = [], [], []
    for repeat in range(1, args.repeats + 1):
        results = fresh_results(template, work / "ablate")
        a_start, a_sec = timed([*ablate_cmd, str(results)], env)
        a_phases = phases(a_start, a_sec, trial_spans(results / "orchestration"))
        results = fresh_results(template, work / "bare")
        b_start, b_sec = timed([*bare_cmd, str(results)], env)
        b_phases = phases(b_start, b_sec, trial_spans(results / "orchestration"))
        ratio = a_sec / b_sec
        print(f"repeat {repeat}: ablate run {a_sec:.1f} s, bare {b_sec:.1f} s, ratio {ratio:.3f}")
        _print_phases("ablate run", a_phases)
        _print_phases("bare loop", b_phases)
        ratios.append(ratio)
        overheads.append((a_sec - b_sec) / a_sec)
        seconds.append(a_sec - b_sec)
    print(f"Ray start + stop alone: {ray_start_stop(env):.1f} s")
    overhead = statistics.median(overheads)
    print(
        f"median: ablate run / bare loop {statistics.median(ratios):.3f}; overhead "
        f"{statistics.median(seconds):.1f} s, {overhead:.1%} of the ablate run makespan "
        f"(target <= {args.max_overhead:.0%})"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if overhead <= args.max_overhead else 1


if __name__ == "__main__":
    sys.exit(main())
