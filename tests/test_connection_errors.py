"""Connection problems told apart: one line each, with the origin, exit 5; what waiting cannot fix (a name that
does not resolve, TLS) fails at once; what it can is retried, and the retries show (-v, summary, --json)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import RunningServer, TLSFiles
from tests.helpers import CliRun, run_cli
from tests.resilience_support import serve_loris, the_error_line

SERVICES = ("loris", "neurovault", "allen", "datamint")
PATHS = {"loris": "/api/v0.0.3-dev", "datamint": "/api"}
SECRETS = {"NEUROFETCH_USERNAME": "demo", "NEUROFETCH_PASSWORD": "demo", "NEUROFETCH_API_KEY": "demo-key"}
# Many slow retries, if anything were retried: a failure that is not retried ends long before the first wait.
PATIENT = {"NEUROFETCH_RETRIES": "5", "NEUROFETCH_RETRY_WAIT_MAX": "10"}


def command(service: str, tmp: Path) -> list[str]:
    if service == "allen":
        return ["atlas-image", "1", "--out", str(tmp / "out")]
    if service == "neurovault":
        return ["mirror", str(tmp / "out"), "--collection", "1"]
    return ["mirror", str(tmp / "out")]


def run_against(
    service: str, origin: str, tmp: Path, env: dict[str, str] | None = None, *args: str
) -> tuple[CliRun, float]:
    started = time.monotonic()
    result = run_cli(
        "--json",
        *args,
        "--url",
        origin + PATHS.get(service, ""),
        "--service",
        service,
        *command(service, tmp),
        env={**SECRETS, **(env or {})},
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize("service", SERVICES)
def test_a_name_that_does_not_resolve_fails_at_once(service: str, tmp_path: Path) -> None:
    result, elapsed = run_against(service, "http://nonexistent.invalid", tmp_path, PATIENT)
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert "the host name nonexistent.invalid does not resolve (DNS)" in line
    assert "(http://nonexistent.invalid)" in line
    assert elapsed < 3
    assert result.json["exit_code"] == 5 and "retries" not in result.json["counts"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_closed_port_says_connection_refused_with_the_origin(service: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result, _ = run_against(service, f"http://127.0.0.1:{port}", tmp_path, {"NEUROFETCH_RETRIES": "1"})
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert "connection refused" in line and f"(http://127.0.0.1:{port})" in line
    assert result.json["counts"]["retries"] == 1  # refused may be a server restarting: worth one more try


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    import trustme

    where = tmp_path_factory.mktemp("tls")
    cert = trustme.CA().issue_cert("127.0.0.1")
    files = TLSFiles(str(where / "cert.pem"), str(where / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(files.certfile)
    cert.private_key_pem.write_to_path(files.keyfile)
    return files


@contextlib.contextmanager
def emulator(service: str, tls: TLSFiles | None = None) -> Iterator[RunningServer]:
    from neurofetch.emulators.common import Faults
    from tests.test_no_tracebacks import SERVICES as MAKERS

    app = MAKERS[service][0](Faults()).app
    server = RunningServer(app, tls=tls).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("service", SERVICES)
def test_https_against_an_http_port_says_the_server_did_not_speak_tls(service: str, tmp_path: Path) -> None:
    with emulator(service) as server:
        origin = server.origin.replace("http://", "https://")
        result, elapsed = run_against(service, origin, tmp_path, PATIENT)
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert "the server did not speak TLS" in line and f"({origin})" in line
    assert elapsed < 3


@pytest.mark.parametrize("service", SERVICES)
def test_an_untrusted_certificate_fails_at_once(service: str, untrusted_tls: TLSFiles, tmp_path: Path) -> None:
    with emulator(service, untrusted_tls) as server:
        result, elapsed = run_against(service, server.origin, tmp_path, PATIENT)
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert "TLS certificate did not verify" in line and f"({server.origin})" in line
    assert elapsed < 3


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("service", ["loris", "neurovault"])
def test_a_server_that_never_answers_times_out_with_its_own_line(service: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    with silent_server() as origin:
        config.write_text(
            f"default_profile: p\nprofiles:\n  p:\n    service: {service}\n"
            f"    url: {origin}{PATHS.get(service, '')}\n    username: demo\n    timeout: 0.5\n"
            "    retries: 0\n"
        )
        result = run_cli("--config", config, *command(service, tmp_path), env=SECRETS)
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert "timed out waiting for the server to answer" in line and f"({origin})" in line


@contextlib.contextmanager
def full_backlog() -> Iterator[str]:
    """A listener whose accept queue is full and never emptied: the kernel leaves new connections unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            client.connect(("127.0.0.1", port))
        waiting.append(client)
    time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for client in waiting:
            client.close()
        listener.close()


def test_a_connection_that_is_never_accepted_says_timed_out_connecting(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    with full_backlog() as origin:
        config.write_text(
            f"default_profile: p\nprofiles:\n  p:\n    service: neurovault\n    url: {origin}\n"
            "    timeout: 0.5\n    retries: 0\n"
        )
        result = run_cli("--config", config, *command("neurovault", tmp_path))
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert "timed out connecting" in line and f"({origin})" in line


class FirstAnswers503:
    """ASGI front: the first ``count`` requests get 503, the rest reach the emulator."""

    def __init__(self, app: Any, count: int) -> None:
        self.app, self.left = app, count

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.left > 0:
            self.left -= 1
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def test_retries_are_shown_at_v_and_counted_in_the_summary_and_json(tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005, recorder=lambda app: FirstAnswers503(app, 3)) as loris:  # type: ignore[arg-type,return-value]
        result = run_cli("-v", "--json", "mirror", tmp_path / "d", env=loris.env())
    assert result.code == 0, result.stderr
    assert result.json["counts"]["retries"] == 3
    retry_lines = [line for line in result.stderr.splitlines() if line.startswith("debug: retrying ")]
    assert len(retry_lines) == 3, result.stderr
    assert all("HTTP 503" in line and "next in" in line for line in retry_lines)
    assert "3 retries" in result.stderr.splitlines()[-1]  # the summary line


def test_without_v_the_progress_lines_count_the_retries(tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005, recorder=lambda app: FirstAnswers503(app, 2)) as loris:  # type: ignore[arg-type,return-value]
        result = run_cli("mirror", tmp_path / "d", env={**loris.env(), "NEUROFETCH_PROGRESS_INTERVAL": "0"})
    assert result.code == 0, result.stderr
    assert "debug:" not in result.stderr
    assert any(line.startswith("progress: ") and "2 retries" in line for line in result.stderr.splitlines())
