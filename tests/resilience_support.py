"""Support for the resilience tests: LORIS emulators with chosen faults, a recorder in front of them,
and a real `python -m neurofetch` in the background that a test can kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurofetch.emulators.common import Faults, RunningServer
from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[..., Any]


@dataclass(frozen=True)
class Stamp:
    """One request as the recorder saw it: when it arrived, and what was answered."""

    at: float
    method: str
    path: str
    status: int
    headers: dict[str, str]


class Recorder:
    """ASGI wrapper in front of an emulator: timestamps every request (the emulator's log has no times)
    and can rewrite answers, to play a hostile proxy or a server with other habits.

    ``transform(path)`` returns None to pass the answer through, or a function that turns the
    emulator's body into the body sent (the status and other headers stay).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        transform: Callable[[str], Callable[[bytes], bytes] | None] | None = None,
        rewrite_headers: Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]] | None = None,
    ) -> None:
        self.app = app
        self.transform = transform
        self.rewrite_headers = rewrite_headers
        self._lock = threading.Lock()
        self.stamps: list[Stamp] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        change = self.transform(path) if self.transform else None
        held: dict[str, Any] = {"start": None, "body": b""}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._stamp(arrived, scope["method"], path, message["status"], headers)
                if self.rewrite_headers:
                    message = {**message, "headers": self.rewrite_headers(list(message.get("headers", [])))}
                if change is not None:
                    held["start"] = message
                    return
            elif change is not None and message["type"] == "http.response.body":
                held["body"] += message.get("body", b"")
                if message.get("more_body", False):
                    return
                body = change(held["body"])
                start = held["start"]
                kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                await send({**start, "headers": [*kept, (b"content-length", str(len(body)).encode())]})
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, recording_send)

    def _stamp(self, at: float, method: str, path: str, status: int, headers: dict[str, str]) -> None:
        with self._lock:
            self.stamps.append(Stamp(at, method, path, status, headers))

    def times(self, method: str, path_end: str) -> list[float]:
        with self._lock:
            return [s.at for s in self.stamps if s.method == method and s.path.endswith(path_end)]


@dataclass
class Loris:
    """A running LORIS emulator (maybe behind a Recorder) and what a client needs to reach it."""

    emulator: LorisEmulator
    url: str
    recorder: Recorder | None = None
    password: str = "demo"

    @property
    def dataset(self) -> LorisDataset:
        return self.emulator.dataset

    @property
    def faults(self) -> Faults:
        return self.emulator.faults

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "NEUROFETCH_URL": self.url,
            "NEUROFETCH_SERVICE": "loris",
            "NEUROFETCH_USERNAME": "demo",
            "NEUROFETCH_PASSWORD": self.password,
            **extra,
        }

    def file_gets(self, name: str | None = None) -> list[Any]:
        """The emulator's log entries of file downloads (not QC), optionally of one file name."""
        return [
            e
            for e in self.emulator.log.entries()
            if e.method == "GET"
            and "/images/" in e.path
            and not e.path.endswith("/qc")
            and (name is None or e.path.endswith("/" + name))
        ]


@contextmanager
def serve_loris(
    faults: str = "",
    *,
    candidates: int = 1,
    size_scale: float = 0.02,
    record: bool = False,
    password: str = "demo",
    tls: Any = None,
    recorder: Callable[[ASGIApp], Recorder] | None = None,
    **emulator_args: Any,
) -> Iterator[Loris]:
    """A LORIS emulator with ``faults`` (the `--faults` syntax) on a free loopback port."""
    emulator = LorisEmulator(
        LorisDataset(candidates=candidates, size_scale=size_scale),
        faults=Faults.parse(faults),
        users={"demo": password},
        **emulator_args,
    )
    front: Recorder | None = None
    if recorder is not None:
        front = recorder(emulator.app)
    elif record:
        front = Recorder(emulator.app)
    server = RunningServer(front or emulator.app, tls=tls).start()
    try:
        yield Loris(emulator, emulator.base_url(server), front, password)
    finally:
        server.stop()


def data_files(root: Path) -> dict[str, bytes]:
    """Data files under ``root`` by relative path: no state folder, no JSON records, no ``.part``."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if (
            path.is_file()
            and not rel.startswith(".neurofetch")
            and not rel.endswith((".json", ".part"))
            and not path.name.startswith(".")
        ):
            found[rel] = path.read_bytes()
    return found


def part_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.part"))


def assert_nothing_partial_taken_for_complete(dest: Path, expected: Mapping[str, bytes]) -> None:
    """Every file under its final name is complete and exact; every JSON record parses; the journal
    holds only files that are on disk, byte-exact."""
    import hashlib
    import sqlite3

    for rel, data in data_files(dest).items():
        assert data == expected[rel], f"{rel} is under its final name but is not the server's file"
    for record in dest.rglob("*.json"):
        json.loads(record.read_text(encoding="utf-8"))
    db = dest / ".neurofetch" / "state.sqlite3"
    if db.exists():
        rows = sqlite3.connect(db).execute("SELECT path, size, sha256 FROM files").fetchall()
        for rel, size, digest in rows:
            assert size == len(expected[rel]) and digest == hashlib.sha256(expected[rel]).hexdigest()


@dataclass
class Background:
    """`python -m neurofetch ARGS` running in the background, with its output collected in files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


def start_background(*args: str | Path, env: Mapping[str, str], logs: Path) -> Background:
    """Start the real CLI as a child process; no keyring in it (credentials come from ``env``)."""
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("*.out")))
    out, err = logs / f"{n}.out", logs / f"{n}.err"
    full_env = {**os.environ, "NEUROFETCH_NO_KEYRING": "1", **env}
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "neurofetch", *map(str, args)],
            env=full_env,
            stdout=o,
            stderr=e,
            stdin=subprocess.DEVNULL,
        )
    return Background(proc, out, err)


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 20, what: str = "condition", process: Background | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.proc.returncode}) before {what}: {process.stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def the_error_line(stderr: str) -> str:
    """The one error line of a run that stopped; progress lines may come before it, nothing else."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("progress: ")]
    assert len(lines) == 1 and lines[0].startswith("neurofetch: error: "), stderr
    return lines[0]
