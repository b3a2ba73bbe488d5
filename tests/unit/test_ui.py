"""`ablate ui`'s checks before any server starts: no store, a remote tracking server, a taken
port, an address that is not ours; and the small pieces (URL, log tail, stop signals)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ablate.errors import UserError
from ablate.ui import _Stop, _StopSignals, _tail, serve_ui, ui_url


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A results folder whose mlflow.db exists (the checks only look for the file)."""
    (tmp_path / "mlflow.db").touch()
    return tmp_path


@pytest.fixture
def listener() -> Iterator[int]:
    """A port somebody is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def never_ready(url: str) -> None:
    raise AssertionError(f"ready({url}) called")


def test_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        serve_ui(tmp_path / "nope", ready=never_ready)


def test_folder_without_store_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no MLflow store yet .*run a sweep first"):
        serve_ui(tmp_path, ready=never_ready)


def test_missing_store_named_by_the_environment_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(UserError, match=r"MLFLOW_TRACKING_URI=sqlite:///.*other\.db"):
        serve_ui(tmp_path / "nope", ready=never_ready)


def test_remote_tracking_server_is_announced_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.org")
    seen: list[str] = []
    assert serve_ui(tmp_path / "nope", ready=seen.append) == 0
    assert seen == ["https://mlflow.example.org"]


def test_port_in_use_names_the_port(store: Path, listener: int) -> None:
    with pytest.raises(UserError, match=f"Port {listener} on 127.0.0.1 is already in use"):
        serve_ui(store, port=listener, ready=never_ready)


def test_address_not_of_this_machine_is_a_user_error(store: Path) -> None:
    with pytest.raises(UserError, match=r"Cannot listen on 203\.0\.113\.7:"):
        serve_ui(store, host="203.0.113.7", port=5999, ready=never_ready)


@pytest.mark.parametrize("port", [0, 65536])
def test_port_out_of_range_is_a_user_error(store: Path, port: int) -> None:
    with pytest.raises(UserError, match=f"--port {port}"):
        serve_ui(store, port=port, ready=never_ready)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:5000"),
        ("0.0.0.0", "http://127.0.0.1:5000"),
        ("::", "http://[::1]:5000"),
        ("::1", "http://[::1]:5000"),
        ("myhost", "http://myhost:5000"),
    ],
)
def test_ui_url(host: str, url: str) -> None:
    assert ui_url(host, 5000) == url


def test_tail_shows_last_lines_or_says_empty(tmp_path: Path) -> None:
    log = tmp_path / "log"
    assert "is empty" in _tail(log)
    log.write_text("".join(f"line {i}\n" for i in range(40)))
    tail = _tail(log, lines=3)
    assert tail.endswith("  line 37\n  line 38\n  line 39")
    assert "line 36" not in tail


def test_only_the_first_stop_signal_raises() -> None:
    """A second Ctrl-C during shutdown must hurry it, not abort it half way."""
    signals = _StopSignals()
    with pytest.raises(_Stop):
        signals(2, None)
    signals(2, None)
    assert signals.hurry.is_set()


def test_a_store_still_being_made_is_waited_for(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI takes the store-creation lock a sweep holds while its schema migrations run
    (tracking.store_creation_lock, a FileLock) before it hands the store to a server, so it
    waits for them. Checked without a clock: the lock records who entered it, on which store,
    and whether the store was handed over while it was held."""
    from ablate import ui

    entered: list[str] = []
    held = [False]

    @contextmanager
    def recording_lock(uri: str) -> Iterator[None]:
        entered.append(uri)
        held[0] = True
        yield
        held[0] = False

    monkeypatch.setattr(ui, "store_creation_lock", recording_lock)
    uri, _ = ui._store(store)
    assert entered == [uri] == [f"sqlite:///{(store / 'mlflow.db').resolve()}"]
    assert not held[0], "the lock is released before the server starts"


def test_a_results_folder_that_refuses_the_lock_file_is_still_served(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Injected: a shared, read-only results folder (tests may run as root, which writes anyway).
    from ablate import ui

    def refused(uri: str) -> Iterator[None]:
        raise PermissionError(13, "Permission denied", f"{store}/mlflow.db.lock")

    monkeypatch.setattr(ui, "store_creation_lock", contextmanager(refused))
    uri, _ = ui._store(store)
    assert uri == f"sqlite:///{(store / 'mlflow.db').resolve()}"
