"""Shared helpers of the benchmark scripts: emulator subprocesses, timed child processes, tables, the doc.

- :class:`Server` starts ``bench/_serve.py`` (one emulator in its own process) and reads its request counts.
- :func:`measure` runs one command as a child process: wall time (perf_counter around spawn → exit) and
  the child's own peak RSS (``ru_maxrss`` from ``os.wait4``, so neither this process nor the emulator counts).
- :func:`write_section` replaces the text between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``
  in docs/benchmarks.md, so each script rewrites only its own table.

Linux (and macOS) only: ``os.wait4`` does not exist on Windows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
PYTHON = sys.executable
MiB = 1024 * 1024


def loris_tree_parser(doc: str, *, latency: bool = True, no_write: bool = True) -> argparse.ArgumentParser:
    """The options of the benchmarks over bench/loris_mirror.py's LORIS tree (30 candidates, 1,000 files at 5% of
    their real sizes, 20 ms per response); a script adds its own after these."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--size-scale", type=float, default=0.05)
    if latency:
        parser.add_argument("--latency", type=float, default=0.02)
    if no_write:
        parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    return parser


def loris_mirror_command(url: str, dest: Path, *extra: str) -> list[str]:
    """`neurofetch --json mirror DEST` of the LORIS emulator at ``url``, with ``extra`` options."""
    return [*neurofetch_command(), "--url", url, "--service", "loris", "--json", "mirror", str(dest), *extra]


def big_file_mirror(url: str, dest: Path, big: dict[str, str], *extra: str) -> list[str]:
    """`neurofetch mirror` of just the LORIS emulator's big file (bench/_serve.py's ``big_file`` record) into
    ``dest``, with ``extra`` options."""
    return loris_mirror_command(url, dest, "--candidate", big["candidate"], "--include", big["filename"], *extra)


def neurofetch_command() -> list[str]:
    """The installed console script next to this Python (what a user runs), else ``python -m neurofetch``."""
    script = Path(sys.executable).parent / "neurofetch"
    return [str(script)] if script.exists() else [PYTHON, "-m", "neurofetch"]


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a measured child: config, state and keyring kept inside ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROFETCH_")}
    for name in ("config", "state", "cache", "data"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_DATA_HOME": str(home / "data"),
            "NEUROFETCH_CONFIG": str(home / "config" / "none.yaml"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "NO_COLOR": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


# -- emulator subprocess ---------------------------------------------------------------------------


class Server:
    """``bench/_serve.py SERVICE ARGS…`` in a subprocess; ``.url``, ``.info``, ``.stats()``, ``.clear()``."""

    def __init__(self, service: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, str(BENCH / "_serve.py"), service, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        info = self.proc.stdout.readline()
        if not self.url or not info:
            self.close()
            raise SystemExit(f"the {service} emulator did not start (see its error above)")
        self.info = json.loads(info)

    def _ask(self, command: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stats(self) -> dict:
        return self._ask("stats")

    def clear(self) -> None:
        self._ask("clear")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- measured child processes ----------------------------------------------------------------------


@dataclass
class Run:
    wall: float  # seconds
    rss_mib: float  # peak resident set size of the child, MiB
    cpu: float  # user + system CPU seconds of the child
    code: int
    out: str
    err: str
    line_at: float | None = None  # seconds from spawn until stdout had delivered `timed_line` lines (a pipe)

    def json(self) -> dict:
        """The last line of stdout as JSON (neurofetch --json)."""
        return json.loads(self.out.strip().splitlines()[-1])


def measure(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    stdin: bytes | None = None,
    timed_line: int | None = None,
) -> Run:
    """Run ``cmd`` to completion: wall time, CPU time (wait4) and peak RSS.

    With ``timed_line=N`` stdout is a pipe, read as it comes (as ``| awk`` would), and ``Run.line_at`` is when its
    N-th line arrived: with a header line, N=2 is the time to the first row.

    Peak RSS is the child's own VmHWM, read from /proc every 5 ms while it runs: ``ru_maxrss`` from wait4 is not
    usable alone, because Linux carries the parent's high-water mark into the child across fork/vfork + exec
    (a 10 MiB child of a 500 MiB parent reports 500 MiB). Without /proc, ``ru_maxrss`` is the fallback.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        adopting = _become_subreaper()
        ours = set(_children_of(os.getpid())) if adopting else set()
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), stdout=out if timed_line is None else subprocess.PIPE, stderr=err, stdin=inp, env=env, cwd=cwd
        )
        line_at: list[float] = []
        reader = None
        if timed_line is not None:
            reader = threading.Thread(target=_drain, args=(proc, out, timed_line, started, line_at), daemon=True)
            reader.start()
        done = threading.Event()
        peak_kib = [0]
        poller = threading.Thread(target=_poll_hwm, args=(proc.pid, done, peak_kib), daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        orphans_cpu = _reap_orphans(ours) if adopting else 0.0
        done.set()
        poller.join()
        if reader is not None:
            reader.join()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if peak_kib[0]:
            rss = peak_kib[0] / 1024
        else:
            rss = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / MiB
        run = Run(
            wall,
            rss,
            usage.ru_utime + usage.ru_stime + orphans_cpu,
            code,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            line_at[0] if line_at else None,
        )
    if check and code != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} … failed with exit code {code}:\n{run.err[-3000:]}\n{run.out[-2000:]}")
    return run


def _drain(proc: subprocess.Popen, out: IO[bytes], line: int, started: float, line_at: list[float]) -> None:
    """Copy the child's stdout pipe into ``out``; note when its ``line``-th line has arrived."""
    assert proc.stdout is not None
    seen = 0
    while chunk := proc.stdout.read1(65536):
        out.write(chunk)
        if not line_at:
            seen += chunk.count(b"\n")
            if seen >= line:
                line_at.append(time.perf_counter() - started)
    proc.stdout.close()


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def settle(*, drop_caches: bool = True) -> str:
    """Before a timed run: flush what earlier runs wrote and, when allowed (root on Linux), drop the page cache.

    Without it a run pays for its predecessors: their dirty pages are written back during it, and on ext4
    without a journal, creating files soon after thousands were deleted costs extra kernel CPU (the inode
    allocator skips each recently freed inode whose table block is still cached). A run that writes no files
    (a no-op re-run) keeps the cache: dropping it would make it load Python and its libraries from disk.
    Returns what was done, for the report."""
    os.sync()
    if not drop_caches:
        return "Each timed run started after `sync`."
    try:
        DROP_CACHES.write_text("1")
    except OSError:
        return "Each timed run started after `sync`."
    return "Each timed run started after `sync` and a drop of the page cache (`vm.drop_caches=1`)."


_SUBREAPER = 36  # prctl PR_SET_CHILD_SUBREAPER


def _become_subreaper() -> bool:
    """Have the measured command's orphaned descendants (e.g. worker processes of a multiprocessing forkserver,
    which outlives its parent briefly) re-parented to this process rather than to init, so their CPU is counted.
    Linux only; elsewhere their CPU is missing from the figures."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_orphans(ours: set[int], grace: float = 2.0) -> float:
    """Wait for the processes the measured command left behind (adopted since ``ours`` was taken) and return
    their CPU time. Children we had before it (the emulators) are left alone."""
    total, deadline = 0.0, time.monotonic() + grace
    while time.monotonic() < deadline:
        orphans = [pid for pid in _children_of(os.getpid()) if pid not in ours]
        if not orphans:
            break
        for pid in orphans:
            with contextlib.suppress(ChildProcessError):
                reaped, _, usage = os.wait4(pid, os.WNOHANG)
                if reaped:
                    total += usage.ru_utime + usage.ru_stime
        time.sleep(0.01)
    return total


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _poll_hwm(pid: int, done: threading.Event, peak_kib: list[int]) -> None:
    path = f"/proc/{pid}/status"
    while True:
        try:
            with open(path, "rb") as handle:
                match = re.search(rb"VmHWM:\s+(\d+) kB", handle.read())
            if match:
                peak_kib[0] = max(peak_kib[0], int(match.group(1)))
        except OSError:
            pass
        if done.wait(0.005):
            return


def tree_size(root: Path) -> tuple[int, int]:
    """Files and bytes under ``root``, not counting neurofetch's own .neurofetch folder."""
    files = size = 0
    for path in root.rglob("*"):
        if path.is_file() and ".neurofetch" not in path.relative_to(root).parts:
            files += 1
            size += path.stat().st_size
    return files, size


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- machine description ---------------------------------------------------------------------------


def machine() -> str:
    """One line: CPU, cores, RAM, OS, Python, neurofetch commit."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    distro = ""
    with contextlib.suppress(OSError, AttributeError):
        distro = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem}, {distro or platform.system()} (kernel {platform.release()}), "
        f"Python {platform.python_version()}, neurofetch {commit()}"
    )


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "(no git)"


def today() -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z")


# -- tables and the doc ----------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right = [all(_numeric(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True))
        return "| " + " | ".join(padded) + " |"

    dashes = (("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right, strict=True))
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _numeric(text: str) -> bool:
    """Right-align columns of numbers, with or without a unit."""
    return bool(re.fullmatch(r"[-+]?[\d,]*\.?\d+\s*(ms|s|MiB|MB|kB|MB/s|×|%)?|–|-|", text.strip()))


def write_section(name: str, text: str, doc: Path = DOC) -> None:
    """Put ``text`` between this section's markers in the doc, leaving everything else as it is.

    Without markers yet, the section is added before a ``## S3 sync`` heading if there is one, else at the end.
    """
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        _, after = rest.split(end, 1)
        updated = before + block + after
    else:
        lines = current.splitlines(keepends=True)
        at = next((i for i, line in enumerate(lines) if line.startswith("## S3 sync")), None)
        if at is None:
            updated = current.rstrip("\n") + "\n\n" + block + "\n"
        else:
            updated = "".join(lines[:at]) + block + "\n\n" + "".join(lines[at:])
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(updated, encoding="utf-8")
    print(f"wrote the {name!r} section of {doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc}")


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def ratio(value: float) -> str:
    return f"{value:.1f}×" if value < 100 else f"{value:.0f}×"


def mib(value: float) -> str:
    return f"{value:.0f} MiB"


def verdict(met: bool, value: str) -> str:
    return f"**met** ({value})" if met else f"**missed** ({value})"


def need(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} is needed: {hint}")
    return path


# -- LORIS helpers -----------------------------------------------------------------------------------


def loris_token(base_url: str, username: str = "demo", password: str = "demo") -> str:
    import urllib.request

    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(base_url + "/login", data=body, method="POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["token"]


def curl_auth_header(directory: Path, token: str) -> Path:
    """A file for ``curl -H @FILE``, so the token never appears in a command line."""
    path = directory / "curl-auth-header"
    path.touch(mode=0o600)
    path.write_text(f"Authorization: Bearer {token}\n")
    return path


def loopback_bandwidth(tmp: Path, size: int = 512 * MiB, tries: int = 3) -> float:
    """Bytes per second that curl gets from the LORIS emulator (no latency) on one connection: the best of
    ``tries`` downloads of one ``size``-byte file to /dev/null. What this server can send over loopback."""
    curl = need("curl", "apt-get install curl")
    best = 0.0
    with Server("loris", "--candidates", "1", "--big-file-size", str(size)) as server:
        header = curl_auth_header(tmp, loris_token(server.url))
        url = server.url + server.info["big_file"]["path"]
        for _ in range(tries):
            run = measure([curl, "-sS", "-f", "-H", f"@{header}", "-o", os.devnull, url])
            best = max(best, size / run.wall)
    return best


class Noise:
    """How busy the rest of the machine was during a benchmark: CPU time from /proc/stat minus what this
    script and its children (emulators, measured commands) used, averaged over the wall time, in cores."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy = _machine_busy()
        self.mine = _own_cpu()

    def others(self) -> float | None:
        busy = _machine_busy()
        if busy is None or self.busy is None:
            return None
        elapsed = time.monotonic() - self.started
        return max(0.0, (busy - self.busy) - (_own_cpu() - self.mine)) / elapsed

    def note(self) -> str:
        """A sentence for the doc; a warning when others used a noticeable share of the CPUs."""
        others, cores = self.others(), os.cpu_count() or 1
        if others is None:
            return ""
        text = (
            f"Other processes on the machine used {others:.2f} of its {cores} cores on average during this run "
            "(/proc/stat, this benchmark's own processes excluded)"
        )
        if others >= 0.2:
            return (
                f"\n**Noisy:** {text}: the machine was shared, so times are slower and more variable than on an "
                "idle machine; the tools in a table were still measured side by side.\n"
            )
        return f"\n{text}.\n"


def _machine_busy() -> float | None:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    import resource

    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
