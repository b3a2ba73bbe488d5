"""`ablate ui`: the MLflow UI on a results folder's SQLite store, started and stopped as one unit.

The server is `python -m mlflow server` run by this interpreter (no `mlflow` on PATH needed) in
a session of its own, so a terminal's Ctrl-C reaches only us and we decide how the server goes
down: the whole process group gets SIGTERM, then SIGKILL after a grace period, on every way out
(a signal, an error, the server dying). Its output goes to a log file beside the store; the
user sees one line when the UI answers, or one error with the log's tail.

Artifacts: sweeps give their experiment a file:// artifact location (RESULTS_DIR/mlartifacts),
so every run's artifact URI is a local path that the server reads directly for the Artifacts
tab (`/ajax-api/2.0/mlflow/artifacts/list`, `/get-artifact`); `--serve-artifacts` (MLflow's
default) only concerns mlflow-artifacts:/ URIs, which we point at the same folder so nothing an
experiment created in the UI logs lands in the user's working directory.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

from ablate.errors import UserError
from ablate.tracking import store_creation_lock, tracking_uri

LOG_NAME = ".mlflow-ui.log"
START_TIMEOUT_S = 120.0  # a cold MLflow import plus DB check takes 15 s idle, much more loaded
GRACE_S = 10.0  # uvicorn finishes open requests on SIGTERM; then it is killed
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TAIL_LINES = 15
WILDCARD_PROBE = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class _Stop(BaseException):
    """A stop signal arrived; BaseException so no `except Exception` on the way swallows it."""


class _StopSignals:
    """The handler of SIGINT, SIGTERM and SIGHUP while serving: the first raises _Stop, later
    ones (a second Ctrl-C while the server shuts down) only ask to hurry, so they can never
    abort the shutdown half way."""

    def __init__(self) -> None:
        self.stopping = False
        self.hurry = threading.Event()

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            self.hurry.set()
            return
        self.stopping = True
        raise _Stop


def serve_ui(
    results_dir: Path,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    ready: Callable[[str], None] | None = None,
    start_timeout: float = START_TIMEOUT_S,
) -> int:
    """Serve the MLflow UI for `results_dir` until SIGINT/SIGTERM/SIGHUP, then return 0.

    `ready(url)` is called once the UI answers (or at once with the server's URL when
    MLFLOW_TRACKING_URI names an http(s) server, which is then left to the user to open).
    Raises UserError when there is no store, the address cannot be listened on, or the server
    fails to start or stops by itself (with the tail of its log).
    """
    announce = ready or (lambda _url: None)
    remote = tracking_server_url()
    if remote:
        announce(remote)
        return 0
    uri, home = _store(results_dir)
    _check_port_range(port)
    _check_bindable(host, port)
    log, url, signals = _log_path(home), ui_url(host, port), _StopSignals()
    try:
        with _handling(signals), _server(_command(uri, home, host, port), log, signals) as proc:
            _wait_until_up(proc, host, port, log, start_timeout)
            announce(url)
            proc.wait()
    except _Stop:
        return 0
    raise UserError(f"The MLflow server stopped by itself.{_tail(log)}")


def tracking_server_url() -> str | None:
    """MLFLOW_TRACKING_URI when it names an http(s) tracking server, which has its own UI."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri if uri.startswith(("http://", "https://")) else None


def ui_url(host: str, port: int) -> str:
    """The URL to open: a wildcard host is reached on loopback; IPv6 literals get brackets."""
    target = WILDCARD_PROBE.get(host, host)
    return f"http://[{target}]:{port}" if ":" in target else f"http://{target}:{port}"


def _store(results_dir: Path) -> tuple[str, Path]:
    """The store's URI and the folder it lives in (for the log and proxied artifacts).

    Only a SQLite file can be checked here; other URIs (postgresql://, file:) go to the
    server as they are and its own error, if any, is shown from the log.
    """
    uri = tracking_uri(None, results_dir)
    configured = "MLFLOW_TRACKING_URI" in os.environ and bool(os.environ["MLFLOW_TRACKING_URI"])
    if not uri.startswith("sqlite:///"):
        return uri, results_dir.resolve()
    db = Path(uri.removeprefix("sqlite:///")).resolve()
    if not configured and not results_dir.is_dir():
        raise UserError(f"{results_dir}: no such folder; give the results folder of a sweep.")
    if not db.is_file():
        origin = f"MLFLOW_TRACKING_URI={uri}" if configured else str(results_dir)
        raise UserError(f"{origin}: no MLflow store yet ({db} does not exist); run a sweep first.")
    # A sweep that has just begun may still be making the store: the server would race its
    # schema migrations ("duplicate column"); wait for them as a second sweep would. (A
    # folder this user cannot write to has no sweep of theirs making a store in it.)
    with suppress(OSError), store_creation_lock(f"sqlite:///{db}"):
        pass
    return f"sqlite:///{db}", db.parent


def _check_port_range(port: int) -> None:
    """Port 0 would let the server pick one we could not announce."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: give a port between 1 and 65535.")


def _check_bindable(host: str, port: int) -> None:
    """Bind the address as uvicorn will (same family rule, SO_REUSEADDR) and let go of it.

    This turns "port in use" and "no such address here" into one clear line instead of a
    server that dies among INFO lines; a server that loses a race for the port afterwards is
    still caught when it exits early.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    except socket.gaierror as e:
        raise UserError(f"--host {host}: not an address of this machine ({e.strerror}).") from e
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as e:
            raise _bind_error(host, port, e) from e


def _bind_error(host: str, port: int, error: OSError) -> UserError:
    if error.errno == errno.EADDRINUSE:
        return _port_in_use(host, port)
    if error.errno == errno.EACCES:
        return UserError(f"Port {port} needs privileges to listen on; pick one above 1023.")
    return UserError(f"Cannot listen on {host}:{port}: {error.strerror}; check --host.")


def _port_in_use(host: str, port: int) -> UserError:
    return UserError(
        f"Port {port} on {host} is already in use (another `ablate ui` or MLflow server?); "
        f"stop it or pick another with --port."
    )


def _log_path(home: Path) -> Path:
    """Beside the store; a store that is not a local folder, or one we may not write beside
    (someone else's results), logs to the temp folder."""
    writable = home.is_dir() and os.access(home, os.W_OK)
    folder = home if writable else Path(tempfile.gettempdir())
    return folder / LOG_NAME


def _command(uri: str, home: Path, host: str, port: int) -> list[str]:
    """`mlflow server` by this interpreter. One worker: a single user's UI needs no more, and
    fewer processes start faster on a small machine. No access log: it would grow with every
    page the UI polls."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--artifacts-destination",
        (home / "mlartifacts").as_uri(),
        "--uvicorn-opts",
        "--no-access-log",
    ]


def _server_env() -> dict[str, str]:
    """MLflow's job runner (GenAI scorer jobs, huey workers) is of no use to a UI on sweep
    results and would add processes; unbuffered output keeps the log's tail current."""
    return os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1"}


@contextmanager
def _server(
    command: list[str], log: Path, signals: _StopSignals
) -> Iterator[subprocess.Popen[bytes]]:
    """The server in its own session, its group taken down however the block is left."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_server_env(),
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # only prctl: no lock is taken in the child
        )
    try:
        yield proc
    finally:
        try:
            _stop_group(proc, signals)
        except _Stop:  # the first stop signal came just as the block was left: stop anyway
            _stop_group(proc, signals)
            raise


def _die_with_parent() -> Callable[[], None] | None:
    """SIGTERM to the server's launcher if we are SIGKILLed (Linux), the one way out that no
    handler of ours sees; MLflow's launcher forwards SIGTERM to uvicorn."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: nothing to look up after
    parent, pr_set_pdeathsig = os.getpid(), 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # we died before prctl took effect
            os._exit(1)

    return preexec


def _wait_until_up(
    proc: subprocess.Popen[bytes], host: str, port: int, log: Path, timeout: float
) -> None:
    """Poll /health until it answers, the server exits, or `timeout` passes. The server must
    still be running after the answer: another one may have won the port meanwhile."""
    url = ui_url(host, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _early_exit(host, port, log)
        if _answers(f"{url}/health") and proc.poll() is None:
            return
        time.sleep(0.25)
    raise UserError(
        f"The MLflow server did not answer at {url} within {timeout:.0f} s.{_tail(log)}"
    )


def _early_exit(host: str, port: int, log: Path) -> UserError:
    """A server that lost the port between our check and its bind says so only in its log
    (and MLflow's launcher exits 0 even then)."""
    if "address already in use" in _read(log).lower():
        return _port_in_use(host, port)
    return UserError(f"The MLflow server failed to start.{_tail(log)}")


def _answers(url: str) -> bool:
    """One GET with a short timeout; proxies are bypassed (an http_proxy setting must not
    send a loopback probe elsewhere)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop_group(proc: subprocess.Popen[bytes], signals: _StopSignals) -> None:
    """SIGTERM to the whole group, SIGKILL to what is left after GRACE_S (or at once on a
    further stop signal). From here on stop signals only hurry (see _StopSignals)."""
    signals.stopping = True
    _signal_group(proc.pid, signal.SIGTERM)
    if not _group_gone(proc, GRACE_S, signals.hurry):
        _signal_group(proc.pid, signal.SIGKILL)
        _group_gone(proc, 5.0, threading.Event())
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1)


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_gone(proc: subprocess.Popen[bytes], timeout: float, hurry: threading.Event) -> bool:
    """Whether no process of the group is left. The launcher is reaped on the way: as a
    zombie it would still count as a member."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not hurry.is_set():
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):  # gone (or the id is someone else's)
            return True
        time.sleep(0.1)
    return False


@contextmanager
def _handling(signals: _StopSignals) -> Iterator[None]:
    """`signals` handles the stop signals inside the block, the previous handlers are back
    after it. Outside the main thread Python cannot set handlers; the caller's own handling
    applies there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signals) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _read(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except OSError:
        return ""


def _tail(log: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of the server's log, for an error message."""
    text = _read(log).rstrip()
    if not text:
        return f" Its log, {log}, is empty."
    last = "\n".join(f"  {line}" for line in text.splitlines()[-lines:])
    return f" Last lines of {log}:\n{last}"
