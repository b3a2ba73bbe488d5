"""The chat format and fine-tuning: prompt masking, batching, LIMA's schedule, full and LoRA runs.

The tiny builtin model (built once per session into a temporary ABLATE_CACHE) stands in for a
hub model: it goes through the same from_pretrained code.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import TrainingConfig
from ablate.data.fixtures.synthetic import synthetic_records
from ablate.models.chat import (
    ASSISTANT,
    CHAT_TEMPLATE,
    END_OF_TURN,
    SPECIAL_TOKENS,
    USER,
    prompt_text,
    response_text,
)
from ablate.models.finetune import linear_to_floor, optimizer_steps
from ablate.models.load import load_causal_lm, load_tokenizer
from ablate.models.tiny import EOS, PAD, build_tiny_model
from ablate.models.tokens import IGNORE, Example, add_chat_tokens, collate, tokenize_example

TINY = "builtin:tiny"


@pytest.fixture(scope="module")
def tokenizer(tiny_cache: Path) -> Any:
    return load_tokenizer(TINY)


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]  # type: ignore[no-any-return]


# --- chat format -------------------------------------------------------------------------------


def test_chat_template_renders_a_turn_pair_as_prompt_and_response_text(tokenizer: Any) -> None:
    prompt, response = "How do I dice an onion?", "Halve it, then slice.\nDone."
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    assert tokenizer.chat_template == CHAT_TEMPLATE
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == prompt_text(prompt) + response_text(response)


def test_chat_template_generation_prompt_equals_prompt_text(tokenizer: Any) -> None:
    prompt = "What is the Maillard reaction?"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == prompt_text(prompt)


def test_prompt_and_response_text_carry_the_markers() -> None:
    assert prompt_text("q") == f"{USER}\nq{END_OF_TURN}\n{ASSISTANT}\n"
    assert response_text("a") == f"a{END_OF_TURN}\n"
    assert SPECIAL_TOKENS == [USER, ASSISTANT, END_OF_TURN]


# --- tokenize_example --------------------------------------------------------------------------


def test_tokenize_example_masks_the_prompt_and_keeps_the_response(tokenizer: Any) -> None:
    prompt, response = "Why does bread go stale?", "Starch retrogrades as it cools."
    example = tokenize_example(tokenizer, prompt, response, max_len=512)
    assert example is not None
    prompt_ids = _ids(tokenizer, prompt_text(prompt))
    response_ids = _ids(tokenizer, response_text(response))
    n = len(prompt_ids)  # the tiny tokenizer has no BOS token
    assert tokenizer.bos_token_id is None
    assert example.input_ids == prompt_ids + response_ids
    assert example.labels[:n] == [IGNORE] * n
    assert example.labels[n:] == response_ids
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    assert eot in example.labels[n:]  # the end-of-turn marker is learned
    assert tokenizer.decode(example.labels[n:]) == response_text(response)


def test_tokenize_example_truncates_to_max_len(tokenizer: Any) -> None:
    prompt, response = "Tell me about compost.", "Compost is decomposed organic matter. " * 20
    n_prompt = len(_ids(tokenizer, prompt_text(prompt)))
    example = tokenize_example(tokenizer, prompt, response, max_len=n_prompt + 3)
    assert example is not None
    assert len(example.input_ids) == len(example.labels) == n_prompt + 3
    assert example.labels[:n_prompt] == [IGNORE] * n_prompt
    assert example.labels[n_prompt:] == _ids(tokenizer, response_text(response))[:3]


@pytest.mark.parametrize("slack", [0, -1, -5])
def test_tokenize_example_is_none_without_a_response_token(tokenizer: Any, slack: int) -> None:
    prompt = "A long question about telescopes " * 10
    n_prompt = len(_ids(tokenizer, prompt_text(prompt)))
    assert tokenize_example(tokenizer, prompt, "answer", max_len=n_prompt + slack) is None


class _CharTokenizer:
    """A tokenizer with a BOS token: one id per character."""

    bos_token_id = 999

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        assert add_special_tokens is False
        return {"input_ids": [ord(c) for c in text]}


def test_tokenize_example_prepends_bos_and_masks_it() -> None:
    example = tokenize_example(_CharTokenizer(), "q", "a", max_len=100)
    assert example is not None
    n_prompt = 1 + len(prompt_text("q"))
    assert example.input_ids[0] == 999
    assert example.labels[:n_prompt] == [IGNORE] * n_prompt
    assert example.labels[n_prompt:] == [ord(c) for c in response_text("a")]


# --- collate -----------------------------------------------------------------------------------


def test_collate_pads_ids_mask_and_labels() -> None:
    long = Example([5, 6, 7, 8], [IGNORE, IGNORE, 7, 8])
    short = Example([5, 9], [IGNORE, 9])
    batch = collate([long, short], pad_id=1)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [5, 9, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, 7, 8], [IGNORE, 9, IGNORE, IGNORE]]


# --- schedule and step arithmetic --------------------------------------------------------------


def test_linear_to_floor_starts_at_one_and_ends_at_the_floor() -> None:
    assert linear_to_floor(0, 60, 0, 0.1) == 1.0
    assert linear_to_floor(60, 60, 0, 0.1) == pytest.approx(0.1)
    assert linear_to_floor(30, 60, 0, 0.1) == pytest.approx(0.55)  # halfway: (1 + 0.1) / 2
    assert linear_to_floor(200, 60, 0, 0.1) == pytest.approx(0.1)  # never below the floor


def test_linear_to_floor_is_monotone_without_warmup() -> None:
    values = [linear_to_floor(s, 60, 0, 0.1) for s in range(61)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert min(values) == pytest.approx(0.1)


def test_linear_to_floor_ramps_up_during_warmup_then_decays() -> None:
    warmup, total = 4, 20
    ramp = [linear_to_floor(s, total, warmup, 0.1) for s in range(warmup)]
    assert ramp == pytest.approx([0.25, 0.5, 0.75, 1.0])
    after = [linear_to_floor(s, total, warmup, 0.1) for s in range(warmup, total + 1)]
    assert after[0] == 1.0
    assert after[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(after))


@pytest.mark.parametrize(
    ("n", "micro", "batch", "epochs", "expected"),
    [
        (100, 4, 32, 15, 60),  # 25 micro-batches, 8 per step -> 4 steps per epoch
        (64, 4, 32, 1, 2),
        (65, 4, 32, 1, 3),  # a last partial step still counts
        (1, 4, 32, 15, 15),
        (16, 2, 4, 2, 8),
    ],
)
def test_optimizer_steps(n: int, micro: int, batch: int, epochs: int, expected: int) -> None:
    cfg = TrainingConfig(epochs=epochs, micro_batch_size=micro, batch_size=batch)
    assert optimizer_steps(n, cfg) == expected


def test_training_defaults_are_lima() -> None:
    cfg = TrainingConfig()
    assert (cfg.epochs, cfg.learning_rate, cfg.final_learning_rate) == (15, 1e-5, 1e-6)
    assert (cfg.adam_beta1, cfg.adam_beta2, cfg.weight_decay) == (0.9, 0.95, 0.1)
    assert cfg.warmup_steps == 0
    assert (cfg.batch_size, cfg.max_seq_length) == (32, 2048)


# --- add_chat_tokens ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bare_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained offline with no chat markers at all."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[EOS, PAD],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [r["prompt"] + "\n" + r["response"] for r in synthetic_records(100, seed=1)]
    core.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=PAD)


def test_add_chat_tokens_adds_nothing_to_the_tiny_tokenizer(tiny_cache: Path) -> None:
    tokenizer = load_tokenizer(TINY)
    model = load_causal_lm(TINY, None, "float32", "cpu")
    size, rows = len(tokenizer), model.get_input_embeddings().num_embeddings
    assert add_chat_tokens(tokenizer, model) == []
    assert len(tokenizer) == size
    assert model.get_input_embeddings().num_embeddings == rows
    assert tokenizer.chat_template == CHAT_TEMPLATE


def test_add_chat_tokens_adds_the_missing_markers_and_resizes(bare_tokenizer: Any) -> None:
    vocab = bare_tokenizer.get_vocab()
    assert not any(t in vocab for t in SPECIAL_TOKENS)
    before = len(bare_tokenizer)
    model = build_tiny_model(before)
    new_ids = add_chat_tokens(bare_tokenizer, model)
    assert len(new_ids) == 3 and len(set(new_ids)) == 3
    assert all(i >= before for i in new_ids)
    assert len(bare_tokenizer) == before + 3
    assert model.get_input_embeddings().num_embeddings == before + 3
    assert model.get_output_embeddings().weight.shape[0] == before + 3
    for token, token_id in zip(SPECIAL_TOKENS, new_ids, strict=True):
        assert bare_tokenizer(token, add_special_tokens=False)["input_ids"] == [token_id]
    # The template now works on this tokenizer too, with each marker one token.
    text = bare_tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], tokenize=False
    )
    assert text == prompt_text("hi") + response_text("yo")
    # A second call finds nothing missing.
    assert add_chat_tokens(bare_tokenizer, model) == []
