"""What a sweep will cost, before it runs: training tokens, generation tokens and judge calls
per trial.

Training tokens are estimated from characters (about 4 per token for English with the usual
BPE tokenizers): the plan table says "~" so nobody mistakes it for a count. Generation tokens
are an upper bound, not an estimate: every response running to its token limit (the
evaluation prompts' samples, each task's responses, each dialogue turn's reply); the plan
table says "<=".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ablate import layout
from ablate.config.schema import Config, GenerationConfig, TaskConfig
from ablate.plan import Trial, resolved_config

CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class TrialEstimate:
    train_tokens: int | None  # tokens seen over all epochs; None when the pool is not known yet
    judge_calls: int | None  # one per sampled response; None when the prompts are not there yet
    # At most (every response to its limit); None when a prompt set's size is not known yet
    generation_tokens: int | None = None


def training_tokens(n_examples: int, epochs: int, mean_chars: float | None) -> int | None:
    if mean_chars is None:
        return None
    return round(n_examples * epochs * mean_chars / CHARS_PER_TOKEN)


def mean_record_chars(config: Config, pool_name: str, results_dir: Path) -> float | None:
    """Mean prompt + response characters: from a direct pool, or a prepared pool's manifest."""
    from ablate.data.pools import pool_folder, read_manifest
    from ablate.data.sources import source, training_records

    pool = config.pools[pool_name]
    if source(pool.source).direct:
        records = training_records(pool)
        return sum(len(r["prompt"]) + len(r["response"]) for r in records) / max(1, len(records))
    folder = pool_folder(layout.pools_dir(results_dir).resolve(), pool)
    if not folder.is_dir():
        return None
    stats = read_manifest(folder)["stats"]
    if stats["prompt_chars"]["mean"] is None:
        return None
    return float(stats["prompt_chars"]["mean"] + stats["response_chars"]["mean"])


def estimate_trials(
    config: Config, trials: list[Trial], results_dir: Path
) -> dict[str, TrialEstimate]:
    from ablate.data.checks import evaluation_prompt_count

    prompts = evaluation_prompt_count(config)
    j, samples = config.judge, config.generation.samples_per_prompt
    from ablate.judge.modes import judge_mode

    mode = judge_mode(j.mode)
    orders = mode.calls_per_sample  # a paired mode asks in both orders
    if mode.paired and j.pairwise_samples_per_prompt is not None:
        samples = min(samples, j.pairwise_samples_per_prompt)
    turns = _dialogue_turns(config)
    calls = None if prompts is None else prompts * samples * orders + turns
    pools = {pool for t in trials for pool in t.weights}
    chars = {name: mean_record_chars(config, name, results_dir) for name in pools}
    tasks = task_tokens(config)
    found = {}
    for t in trials:
        resolved = resolved_config(config, t)  # an arm may change the generation settings
        found[t.folder] = TrialEstimate(
            training_tokens(t.n_examples, resolved.training.epochs, _mixed(chars, t)),
            calls,
            generation_tokens(resolved.generation, prompts, turns, tasks),
        )
    return found


def generation_tokens(
    generation: GenerationConfig, prompts: int | None, turns: int, tasks: int | None
) -> int | None:
    """A trial's generation budget, at most: prompts x samples_per_prompt x max_new_tokens
    for the evaluation prompts, one reply of max_new_tokens per dialogue turn, and the tasks'
    (task_tokens); None when the prompts or a task's size are not known yet."""
    if prompts is None or tasks is None:
        return None
    per_reply = generation.max_new_tokens
    return prompts * generation.samples_per_prompt * per_reply + turns * per_reply + tasks


def task_tokens(config: Config) -> int | None:
    """The tasks' generation budget, at most: each task's prompts x its max_new_tokens x its
    responses per prompt (1 greedy, `samples` sampled); None when a task's size is not known
    before its hub dataset is downloaded (no `size`)."""
    total = 0
    for name, task in (config.evaluation.tasks or {}).items():
        prompts = _task_prompts(name, task)
        if prompts is None:
            return None
        total += prompts * task.max_new_tokens * (1 if task.decoding == "greedy" else task.samples)
    return total


def _task_prompts(name: str, task: TaskConfig) -> int | None:
    """The problems the task loads (a generator's, a file's or a saved dataset's, its first
    `size`); a hub dataset's `size` (at most), or None without one (the download is the
    run's, not the plan's)."""
    if task.source == "hf" and not Path(str(task.dataset)).exists():
        return task.size
    from ablate.tasks.sets import load_task

    return len(load_task(name, task))


def _dialogue_turns(config: Config) -> int:
    """The judge calls a trial's dialogues add: one per assistant turn (evaluation.dialogues)."""
    if config.evaluation.dialogues is None:
        return 0
    from ablate.dialogues.sets import load_dialogues

    return sum(len(c["turns"]) for c in load_dialogues(config.evaluation.dialogues))


def _mixed(chars: dict[str, float | None], trial: Trial) -> float | None:
    """Mean characters per example of a trial's data (a mixture: weighted by its shares)."""
    values = [(chars[pool], w) for pool, w in trial.weights.items()]
    if any(c is None for c, _ in values):
        return None
    return sum(float(c or 0.0) * w for c, w in values)


@dataclass(frozen=True)
class SearchEstimate:
    """A search's cost before it runs: its trials, and the tokens of one trial at the cheapest
    and the dearest corner of its space (sizes, epochs, pools)."""

    trials: int  # search trials (configurations x seeds) plus the confirmation's
    confirm_trials: int
    tokens_low: int | None  # per trial
    tokens_high: int | None
    judge_calls: int | None  # per trial
    generation_tokens: int | None = None  # per trial, at most (at the space's dearest corner)

    def total(self, per_trial: int | None) -> int | None:
        return None if per_trial is None else per_trial * self.trials


def _space_range(config: Config, key: str, current: int) -> tuple[int, int]:
    """The lowest and highest value a search gives an integer setting (its own when not
    searched)."""
    from ablate.config.search import space_entries

    assert config.search is not None
    spec = space_entries(dict(config.search.space)).get(key)
    if isinstance(spec, list):
        return int(min(spec)), int(max(spec))
    if isinstance(spec, dict):
        return int(spec["low"]), int(spec["high"])
    return current, current


def _dearest_generation(config: Config) -> GenerationConfig:
    """The generation settings at the search space's dearest corner."""
    g = config.generation
    return dataclasses.replace(
        g,
        max_new_tokens=_space_range(config, "generation.max_new_tokens", g.max_new_tokens)[1],
        samples_per_prompt=_space_range(
            config, "generation.samples_per_prompt", g.samples_per_prompt
        )[1],
    )


def estimate_search(config: Config, results_dir: Path) -> SearchEstimate:
    from ablate.config.arms import search_base
    from ablate.data.checks import evaluation_prompt_count

    search = config.search
    assert search is not None
    base = search_base(config)
    chars = [mean_record_chars(config, pool, results_dir) for pool in base.data]
    known = [c for c in chars if c is not None]
    epochs = _space_range(config, "training.epochs", config.training.epochs)
    sizes = config.sweep.sizes
    low = training_tokens(min(sizes), epochs[0], min(known)) if len(known) == len(chars) else None
    high = training_tokens(max(sizes), epochs[1], max(known)) if len(known) == len(chars) else None
    probe = Trial(base.name, "", min(sizes), 0, {}, data=base.data)
    calls = estimate_trials(config, [probe], results_dir)[probe.folder].judge_calls
    confirm = search.confirm.top * search.confirm.seeds if search.confirm else 0
    generation = generation_tokens(_dearest_generation(config), evaluation_prompt_count(config),
                                   _dialogue_turns(config), task_tokens(config))  # fmt: skip
    return SearchEstimate(
        search.trials * len(config.sweep.seeds) + confirm, confirm, low, high, calls, generation
    )
