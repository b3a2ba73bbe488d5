"""A tiny Llama-architecture model and tokenizer the project builds itself (no download).

For tests and the offline quickstart: it trains and generates in seconds on a CPU, through
the same from_pretrained code as a hub model, because it is saved to a folder and loaded by
path. Its outputs (and its judge scores) are meaningless: it is a plumbing check.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ablate.errors import UserError
from ablate.models.chat import CHAT_TEMPLATE, SPECIAL_TOKENS

BUILTIN_PREFIX = "builtin:"
TINY_NAME = "tiny"
TINY_VERSION = 1  # bump when the build changes, so a stale cached copy is rebuilt
EOS, PAD = "<|endoftext|>", "<|pad|>"


def build_tiny_tokenizer(vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from ablate.data.fixtures.synthetic import synthetic_records

    # Byte-level BPE: every byte is a token, so any text (and every score digit) encodes.
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD, *SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [r["prompt"] + "\n" + r["response"] for r in synthetic_records(3000, seed=7)]
    core.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=PAD)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    vocab_size: int,
    seed: int = 0,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    max_positions: int = 1024,
    **config: Any,
):
    """A randomly initialised Llama; the defaults are the builtin tiny model (head size 16)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    llama = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        **config,
    )
    return LlamaForCausalLM(llama)


def save_head64_llama(
    folder: Path, tokenizer_dir: Path, hidden_size: int, layers: int, max_positions: int
) -> Path:
    """The tiny tokenizer (chat markers included) on a bfloat16 Llama of head size 64, one
    every vLLM attention kernel takes (the builtin tiny model's 16 is too small for some)."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_tiny_model(
        len(tokenizer), 0, hidden_size, layers, hidden_size // 64, max_positions,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny(directory: Path) -> Path:
    """Build the tiny model and tokenizer and save both to `directory` (loadable by path)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a progress bar for a 600 kB file is noise
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer))
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def builtin_version(name_or_path: str) -> int | None:
    """The build version of a builtin model (part of trial keys); None for other models."""
    return TINY_VERSION if name_or_path.startswith(BUILTIN_PREFIX) else None


def cache_root() -> Path:
    return Path(os.environ.get("ABLATE_CACHE", Path.home() / ".cache" / "ablate"))


def builtin_path(name: str) -> Path:
    """The folder of a builtin model, built once per machine (atomically: workers may race)."""
    if name != TINY_NAME:
        raise ValueError(f"unknown builtin model '{name}' (known: {TINY_NAME})")
    final = cache_root() / "models" / f"{name}-v{TINY_VERSION}"
    if (final / "config.json").is_file():
        return final
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        save_tiny(tmp)
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / "config.json").is_file():  # not a lost race with an identical build
            raise UserError(
                f"cannot build the tiny model in {final.parent} ({exc}); "
                "set ABLATE_CACHE to a writable folder."
            ) from None
    return final
