"""A real HTTP proxy (proxy.py) on loopback for the proxy tests, recording every request it passes on.

It runs as its own process (`python -m proxy`); ``RecordRequests`` is loaded into it as a plugin and
appends one line per request to the file named by NF_PROXY_RECORD: ``METHOD host:port path``, a tab and
the User-Agent. A tunnel (CONNECT) is one line: what goes through it is encrypted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from proxy.http.proxy import HttpProxyBasePlugin
except ImportError:  # only the proxy process needs it; the tests skip without it
    HttpProxyBasePlugin = object

REPO = Path(__file__).resolve().parent.parent


class RecordRequests(HttpProxyBasePlugin):  # type: ignore[misc,valid-type]
    def handle_client_request(self, request: Any) -> Any:
        # proxy.py adds its own "Content-Length" to a request it passes on without noticing a lower-case
        # "content-length" (httpx's spelling): servers refuse the pair. It counts the buffered body itself.
        if request.has_header(b"content-length") and not request.is_chunked_encoded:
            request.del_header(b"content-length")
        method = (request.method or b"").decode("latin-1")
        host = (request.host or b"").decode("latin-1")
        path = (request.path or b"").decode("latin-1")
        agent = (request.header(b"user-agent") if request.has_header(b"user-agent") else b"").decode("latin-1")
        with open(os.environ["NF_PROXY_RECORD"], "a", encoding="utf-8") as record:
            record.write(f"{method} {host}:{request.port} {path}\t{agent}\n")
        return request


@dataclass
class RunningProxy:
    port: int
    record: Path
    log: Path
    credentials: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.credentials}@127.0.0.1:{self.port}" if self.credentials else self.address

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """``METHOD host:port path`` of every request passed on so far."""
        return [line.split("\t")[0] for line in self.requests_and_agents()]

    def requests_and_agents(self) -> list[str]:
        """``METHOD host:port path<TAB>User-Agent`` of every request passed on so far."""
        return self.record.read_text().splitlines() if self.record.exists() else []

    def clear(self) -> None:
        self.record.unlink(missing_ok=True)


@contextmanager
def http_proxy(workdir: Path, *, basic_auth: str = "") -> Iterator[RunningProxy]:
    """proxy.py on a free loopback port; ``basic_auth`` (``user:password``) makes it require those."""
    import pytest

    pytest.importorskip("proxy", reason="the proxy tests need proxy.py (the test extra)")
    workdir.mkdir(parents=True, exist_ok=True)
    port_file, log = workdir / "proxy.port", workdir / "proxy.log"
    command = [
        sys.executable,
        "-m",
        "proxy",
        "--hostname",
        "127.0.0.1",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--num-acceptors",
        "1",
        "--num-workers",
        "1",
        "--log-file",
        str(log),
        "--log-level",
        os.environ.get("NF_PROXY_LOG_LEVEL", "WARNING"),
        "--plugins",
        f"{__name__}.RecordRequests",
    ]
    if basic_auth:
        command += ["--basic-auth", basic_auth]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(NF_PROXY_RECORD=str(workdir / "requests.txt"), PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"proxy.py did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
        yield RunningProxy(int(port_file.read_text()), workdir / "requests.txt", log, basic_auth)
    finally:
        # Its acceptor and worker processes are in its own process group: end them all.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
