"""A LoRA adapter trained on a base whose tokenizer lacks the chat markers: it holds the LoRA
weights and the added tokens' rows, not the whole embedding and output layers, the rows are
trained on both sides (tied or not), and `load_finetuned` rebuilds the trained model from it
(real training on CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import LoraSettings, TrainingConfig
from ablate.data.fixtures.synthetic import synthetic_records
from ablate.models import finetune
from ablate.models.chat import SPECIAL_TOKENS, prompt_text, response_text
from ablate.models.generation import load_finetuned
from ablate.models.tiny import build_tiny_model
from tests.support.tokenizers import tokenizer_without_chat_markers

pytestmark = pytest.mark.integration

TRAINING = TrainingConfig(
    method="lora", epochs=1, learning_rate=1e-2, final_learning_rate=1e-3, batch_size=4,
    micro_batch_size=2, max_seq_length=128, lora=LoraSettings(r=4, alpha=8),
)  # fmt: skip


def _bare_base(folder: Path, tied: bool) -> int:
    """A tiny model whose tokenizer has no chat marker, saved to `folder`; its vocabulary size."""
    import torch
    bare = tokenizer_without_chat_markers()
    model = build_tiny_model(len(bare))
    if not tied:  # most 7B bases (Llama 2, Mistral) keep a separate output layer
        model.config.tie_word_embeddings = False
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    model.save_pretrained(folder)
    bare.save_pretrained(folder)
    return len(bare)


@pytest.fixture(scope="module", params=["tied", "untied"])
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The base, the adapter folder and the model as training left it (in memory)."""
    base = tmp_path_factory.mktemp(f"bare-{request.param}")
    vocabulary = _bare_base(base, request.param == "tied")
    kept: dict[str, Any] = {}
    prepare = finetune.prepare_model

    def prepare_and_keep(*args: Any, **kwargs: Any) -> Any:
        kept["model"], kept["tokenizer"], precision = prepare(*args, **kwargs)
        return kept["model"], kept["tokenizer"], precision

    out = tmp_path_factory.mktemp(f"lora-{request.param}")
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(finetune, "prepare_model", prepare_and_keep)
        records = synthetic_records(8, seed=0)
        finetune.fine_tune(str(base), None, "float32", records, TRAINING, 0, out, "cpu")
    return {"base": base, "adapter": out / "model", "vocabulary": vocabulary, **kept}


def _tensor_shapes(adapter: Path) -> dict[str, list[int]]:
    from safetensors import safe_open

    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as handle:
        return {name: list(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118


def test_the_adapter_holds_the_added_rows_not_whole_layers(trained: dict[str, Any]) -> None:
    rows = trained["vocabulary"] + len(SPECIAL_TOKENS)
    shapes = _tensor_shapes(trained["adapter"])
    assert not [name for name, shape in shapes.items() if rows in shape], "a whole layer saved"
    added = {name: shape for name, shape in shapes.items() if "trainable_tokens" in name}
    hidden = trained["model"].config.hidden_size
    assert added and all(shape == [len(SPECIAL_TOKENS), hidden] for shape in added.values())
    assert set(shapes) - set(added) and all("lora_" in name for name in set(shapes) - set(added))
    embedding_bytes = rows * hidden * 4  # one float32 layer of the base
    assert (trained["adapter"] / "adapter_model.safetensors").stat().st_size < embedding_bytes


def test_the_added_rows_are_trained_in_and_out(trained: dict[str, Any]) -> None:
    """Both the input rows and the output rows of the markers moved from their start (the
    output row of the end-of-turn marker is what stops generation)."""
    import torch

    model = trained["model"]
    for layer in (model.get_input_embeddings(), model.get_output_embeddings()):
        adapter = layer.token_adapter
        trainable, start = adapter.trainable_tokens_delta, adapter.trainable_tokens_original
        assert not torch.equal(trainable["default"].detach(), start["default"])


def test_the_reloaded_adapter_gives_the_trained_models_logits(trained: dict[str, Any]) -> None:
    import torch

    model, tokenizer = trained["model"].eval(), trained["tokenizer"]
    text = prompt_text("How do I patch a bicycle tube?") + response_text("Find the hole.")
    ids = tokenizer(text, return_tensors="pt")
    assert set(tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS)) <= set(ids["input_ids"][0].tolist())
    with torch.no_grad():
        expected = model(**ids).logits
    for seed in (1, 2):  # resizing the base draws its new rows at random: the adapter's win
        torch.manual_seed(seed)
        loaded = load_finetuned(trained["adapter"], str(trained["base"]), None, "float32", "cpu")
        with torch.no_grad():
            logits = loaded.model(**ids).logits
        assert torch.allclose(logits, expected, atol=1e-5, rtol=0)
