"""A byte-level BPE tokenizer without the chat markers, as most base models ship: training adds
the markers (models/tokens.py), which is what the LoRA round-trip tests exercise."""

from __future__ import annotations

from typing import Any

from ablate.data.fixtures.synthetic import synthetic_records
from ablate.models.tiny import EOS, PAD


def tokenizer_without_chat_markers() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(
        [r["prompt"] + "\n" + r["response"] for r in synthetic_records(100, seed=1)],
        trainer=trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=[EOS, PAD],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=PAD)
