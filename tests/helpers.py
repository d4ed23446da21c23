"""Test helpers: run the real CLI in-process with isolated streams, or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, input: str | None = None, env: Mapping[str, str | None] | None = None) -> CliRun:
    """Run ``neurofetch ARGS`` through the real entry point, in this process."""
    from neurofetch.__main__ import main

    runner = CliRunner()
    with runner.isolation(input=input, env=dict(env or {})) as streams:
        code = main([str(a) for a in args])
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    return CliRun(code, stdout, stderr)


def run_subprocess(
    *args: str, env: Mapping[str, str] | None = None, input: str | None = None, timeout: float = 120
) -> CliRun:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "neurofetch", *map(str, args)],
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def tree_files(root: Path) -> dict[str, bytes]:
    """Every data file under ``root`` (not the state folder, not the JSON records), by relative path."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(".neurofetch") and not rel.endswith(".json"):
            found[rel] = path.read_bytes()
    return found


@contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` (e.g. "2m") mounted at ``where``; skips the test without root and mount."""
    import pytest

    where.mkdir()
    try:
        mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc}); needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def high_water_kib(pid: int) -> int:
    """A running process's peak resident memory (VmHWM), 0 once it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it has just ended
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def request_body(receive: Any) -> bytes:
    """The whole body of an ASGI request, read message by message (a test server must read it before answering:
    left unread on a kept-alive connection, its bytes are taken for the next request)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
