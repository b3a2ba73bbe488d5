"""Model names to loadable folders: builtin:tiny, local folders, and hub ids (hub faked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import huggingface_hub
import huggingface_hub.errors as hub_errors
import pytest

from ablate.errors import UserError
from ablate.models.chat import CHAT_TEMPLATE, SPECIAL_TOKENS
from ablate.models.load import (
    check_available,
    load_causal_lm,
    load_tokenizer,
    local_path,
    torch_dtype,
)
from ablate.models.tiny import TINY_VERSION, builtin_path, save_tiny

SETTING = "model.name_or_path"


# --- local folders and builtin names -----------------------------------------------------------


def test_check_available_rejects_an_absolute_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(UserError) as err:
        check_available(str(tmp_path), None, SETTING)
    assert SETTING in str(err.value)
    assert str(tmp_path) in str(err.value)
    assert "config.json" in str(err.value)


def test_check_available_rejects_a_missing_relative_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as err:
        check_available("./no-such-model", None, "judge.model")
    assert "judge.model" in str(err.value) and "./no-such-model" in str(err.value)


def test_check_available_accepts_builtin_tiny(tiny_cache: Path) -> None:
    check_available("builtin:tiny", None, SETTING)


def test_check_available_names_the_setting_for_an_unknown_builtin(tiny_cache: Path) -> None:
    with pytest.raises(UserError) as err:
        check_available("builtin:huge", None, SETTING)
    assert str(err.value).startswith(f"{SETTING}:")
    assert "huge" in str(err.value) and "tiny" in str(err.value)


def test_local_path_maps_builtin_tiny_to_a_loadable_folder(tiny_cache: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(local_path("builtin:tiny"))
    assert folder == tiny_cache
    assert folder.name == f"tiny-v{TINY_VERSION}"
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == "llama"
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert tokenizer.chat_template == CHAT_TEMPLATE


def test_local_path_leaves_other_names_alone() -> None:
    assert local_path("org/model") == "org/model"
    assert local_path("/models/llama") == "/models/llama"


def test_builtin_path_is_built_once_and_reused(tiny_cache: Path) -> None:
    stamp = (tiny_cache / "model.safetensors").stat().st_mtime_ns
    assert builtin_path("tiny") == tiny_cache
    assert (tiny_cache / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in tiny_cache.parent.iterdir() if ".tmp-" in p.name]


def test_builtin_path_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="huge"):
        builtin_path("huge")


def test_save_tiny_then_load_by_path(tiny_cache: Path, tmp_path: Path) -> None:
    folder = save_tiny(tmp_path / "my-model")
    check_available(str(folder), None, SETTING)
    tokenizer = load_tokenizer(str(folder))
    model = load_causal_lm(str(folder), None, "float32", "cpu")
    assert all(t in tokenizer.get_vocab() for t in SPECIAL_TOKENS)
    assert tokenizer.chat_template == CHAT_TEMPLATE
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert next(model.parameters()).dtype.is_floating_point
    assert str(next(model.parameters()).dtype) == "torch.float32"


def test_load_tokenizer_falls_back_to_eos_for_padding(tiny_cache: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer("builtin:tiny")
    tokenizer.pad_token = None
    tokenizer.save_pretrained(tmp_path)
    reloaded = load_tokenizer(str(tmp_path))
    assert reloaded.pad_token == reloaded.eos_token
    assert reloaded.pad_token_id == reloaded.eos_token_id


def test_torch_dtype() -> None:
    import torch

    assert torch_dtype("auto") == "auto"
    assert torch_dtype("bfloat16") is torch.bfloat16
    assert torch_dtype("float32") is torch.float32


# --- hub ids -----------------------------------------------------------------------------------
# These fake huggingface_hub (its cache lookup and HfApi): no model hub is reachable from this
# workplace, and a unit test must not touch the network anyway.


class _FakeApi:
    calls: ClassVar[list[tuple[str, str | None]]] = []
    error: ClassVar[BaseException | None] = None

    def model_info(
        self, repo_id: str, revision: str | None = None, timeout: float | None = None
    ) -> Any:
        _FakeApi.calls.append((repo_id, revision))
        if _FakeApi.error is not None:
            raise _FakeApi.error
        return object()


def _fake_hub(
    monkeypatch: pytest.MonkeyPatch, cached: str | None, error: BaseException | None
) -> None:
    _FakeApi.calls.clear()
    _FakeApi.error = error
    monkeypatch.setattr(
        huggingface_hub,
        "try_to_load_from_cache",
        lambda repo_id, filename, revision=None, **kw: cached,
    )
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeApi)


def _hub_error(cls: type[Exception]) -> Exception:
    # These errors want an HTTP response to build; the message is all the code reads.
    error = cls.__new__(cls)
    Exception.__init__(error, f"{cls.__name__} from the fake hub")
    return error


def test_check_available_explains_an_unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_hub(monkeypatch, cached=None, error=ConnectionError("no route to host"))
    with pytest.raises(UserError) as err:
        check_available("meta-llama/Llama-2-7b-hf", "main", SETTING)
    message = str(err.value)
    assert message.startswith(f"{SETTING}:")
    assert "meta-llama/Llama-2-7b-hf" in message
    assert "cannot be reached" in message and "ConnectionError" in message
    assert "huggingface-cli download meta-llama/Llama-2-7b-hf" in message
    assert _FakeApi.calls == [("meta-llama/Llama-2-7b-hf", "main")]


def test_check_available_passes_for_a_cached_hub_model(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_hub(
        monkeypatch,
        cached="/hf/cache/models--org--m/snapshots/abc/config.json",
        error=ConnectionError("no route to host"),
    )
    check_available("org/m", None, SETTING)
    assert _FakeApi.calls == []  # a cached model needs no hub


def test_check_available_passes_when_the_hub_has_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_hub(monkeypatch, cached=None, error=None)
    check_available("org/m", None, SETTING)
    assert _FakeApi.calls == [("org/m", None)]


NOT_FOUND = [hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError]


@pytest.mark.parametrize("cls", NOT_FOUND)
def test_check_available_reports_an_unknown_repo_or_revision(
    monkeypatch: pytest.MonkeyPatch, cls: type[Exception]
) -> None:
    _fake_hub(monkeypatch, cached=None, error=_hub_error(cls))
    with pytest.raises(UserError) as err:
        check_available("org/typo", "v9", SETTING)
    assert SETTING in str(err.value) and "org/typo" in str(err.value)
    assert "not found" in str(err.value)


def test_check_available_reports_a_gated_repo_as_gated(monkeypatch: pytest.MonkeyPatch) -> None:
    # GatedRepoError subclasses RepositoryNotFoundError in huggingface_hub; a gated model exists
    # and the user must accept its licence, so "not found, check the spelling" misleads.
    assert issubclass(hub_errors.GatedRepoError, hub_errors.RepositoryNotFoundError)
    _fake_hub(monkeypatch, cached=None, error=_hub_error(hub_errors.GatedRepoError))
    with pytest.raises(UserError) as err:
        check_available("meta-llama/Llama-2-7b-hf", None, SETTING)
    assert "gated" in str(err.value)
    assert "not found" not in str(err.value)


def test_hub_lookup_is_not_done_for_local_or_builtin_names(
    tiny_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_hub(monkeypatch, cached=None, error=ConnectionError("no route to host"))
    check_available("builtin:tiny", None, SETTING)
    check_available(str(tiny_cache), None, SETTING)
    assert _FakeApi.calls == []
    assert local_path(str(tiny_cache)) == str(tiny_cache)
