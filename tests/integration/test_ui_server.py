"""`serve_ui` with a real MLflow server on loopback: it answers for a store made by
MlflowClient and serves a run's file:// artifacts, needs no PATH, and leaves no process
behind whether its caller is stopped by SIGTERM or killed, or the server dies on its own.

serve_ui runs in a subprocess (as `ablate ui` does) so signals reach it as they would reach
the CLI; its children are found with psutil before the signal is sent.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ablate import ui
from ablate.errors import UserError

pytestmark = pytest.mark.integration
UP_TIMEOUT = 150  # a cold `mlflow server` on a loaded 2-core machine
ARTIFACT_TEXT = "hello from an artifact\n"
SERVE = """
import sys
from pathlib import Path
from ablate.errors import UserError
from ablate.ui import serve_ui

try:
    code = serve_ui(Path(sys.argv[1]), port=int(sys.argv[2]),
                    ready=lambda url: print("MLflow UI:", url, flush=True))
except UserError as e:
    print("ERROR:", e, flush=True)
    sys.exit(2)
print("returned", code, flush=True)
sys.exit(code)
"""


class Served:
    """serve_ui in a subprocess without PATH, its stdout read line by line on a thread."""

    def __init__(self, results: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PATH", "MLFLOW_TRACKING_URI")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(results), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, prefix: str, timeout: float) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} within {timeout} s: {self.seen}") from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()

    def output(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def close(self) -> None:
        if self.proc.poll() is None:
            for child in self.descendants():
                child.kill()
            self.proc.kill()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()  # else garbage collection warns, in whichever test runs then


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def still_running(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of `procs` still running after `timeout` (a zombie waiting to be reaped by
    whoever adopted it counts as gone: it holds no port and runs no code)."""
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    running = []
    for p in alive:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                running.append(p)
        except psutil.NoSuchProcess:
            pass
    return running


def get(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as response:
        return bytes(response.read())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A results folder as a sweep leaves it: mlflow.db, and a run whose artifact went to
    mlartifacts/ through the experiment's file:// artifact location."""
    from mlflow import MlflowClient

    results = tmp_path_factory.mktemp("results")
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.create_experiment(
        "sweep", artifact_location=(results / "mlartifacts").as_uri()
    )
    run_id = client.create_run(experiment).info.run_id
    note = tmp_path_factory.mktemp("artifact") / "note.txt"
    note.write_text(ARTIFACT_TEXT)
    client.log_artifact(run_id, str(note))
    client.set_terminated(run_id)
    return results, run_id


@pytest.fixture
def served(store: tuple[Path, str]) -> Iterator[tuple[Served, str, int]]:
    port = free_port()
    server = Served(store[0], port)
    try:
        url = server.wait_for("MLflow UI:", UP_TIMEOUT)
        yield server, url, port
    finally:
        server.close()


def test_serves_the_store_and_its_artifacts_then_stops_on_sigterm(
    store: tuple[Path, str], served: tuple[Served, str, int]
) -> None:
    server, url, port = served
    run_id = store[1]
    assert url == f"http://127.0.0.1:{port}"
    assert get(f"{url}/health") == b"OK"
    listing = json.loads(get(f"{url}/ajax-api/2.0/mlflow/artifacts/list?run_id={run_id}"))
    assert [f["path"] for f in listing["files"]] == ["note.txt"]
    assert listing["root_uri"].startswith((store[0] / "mlartifacts").as_uri())
    assert get(f"{url}/get-artifact?path=note.txt&run_uuid={run_id}") == ARTIFACT_TEXT.encode()
    assert (store[0] / ui.LOG_NAME).read_text().strip(), "the server's output goes to the log"

    children = server.descendants()
    assert children, "the MLflow server runs as a child"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=60) == 0
    assert "returned 0" in server.output()
    assert still_running(children, timeout=30) == []
    assert port_is_free(port)


def test_a_killed_caller_takes_the_server_down(served: tuple[Served, str, int]) -> None:
    """SIGKILL runs no handler of ours: the launcher's parent-death signal does it."""
    server, _, port = served
    children = server.descendants()
    server.proc.kill()
    server.proc.wait(timeout=30)
    assert still_running(children, timeout=60) == []
    assert port_is_free(port)


def test_a_server_dying_on_its_own_is_a_user_error(served: tuple[Served, str, int]) -> None:
    server, _, _ = served
    uvicorn = [p for p in server.descendants() if "uvicorn" in " ".join(p.cmdline())]
    assert uvicorn, [p.cmdline() for p in server.descendants()]
    children = server.descendants()
    uvicorn[0].kill()
    assert server.proc.wait(timeout=60) == 2
    output = server.output()
    assert "ERROR: The MLflow server stopped by itself." in output
    assert ui.LOG_NAME in output
    assert still_running(children, timeout=30) == []


def test_a_port_taken_after_the_check_is_reported(
    store: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone takes the port between our check and the server's bind: the server exits
    (with status 0) and only its log says why; the error still names the port."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(ui, "_check_bindable", lambda host, port: None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UserError, match=f"Port {port} on 127.0.0.1 is already in use"):
            ui.serve_ui(store[0], port=port, ready=pytest.fail, start_timeout=UP_TIMEOUT)
