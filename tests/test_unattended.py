"""Unattended runs (cron, CI): the log file, progress as lines, colours, never a prompt, the lock's exit 4,
and the cron recipe of docs/cron.md run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli, run_subprocess, tree_files

DOCS = Path(__file__).parents[1] / "docs"
SECRET = "Unattended-S3cret-pw"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
REDRAW = re.compile(r"\r(?!\n)|\x1b\[\?25[lh]|\x1b\[\d*[AK]|\x1b\[2K")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;5;\d+)m")


def doc_block(name: str, first_line: str) -> str:
    """The fenced code block of docs/NAME whose first line starts with ``first_line``."""
    text = (DOCS / name).read_text()
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"no code block starting with {first_line!r} in docs/{name}")


@pytest.fixture
def slow_loris() -> Iterator[object]:
    """A small LORIS with some latency, so a run lasts long enough for progress lines."""
    from neurofetch.emulators.common import Faults
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(latency=0.02), users={"demo": SECRET})
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


def unattended_env(emulator: object, **extra: str) -> dict[str, str]:
    return {
        "NEUROFETCH_URL": emulator.url,
        "NEUROFETCH_SERVICE": "loris",  # type: ignore[attr-defined]
        "NEUROFETCH_USERNAME": "demo",
        "NEUROFETCH_PASSWORD": SECRET,
        "NEUROFETCH_PROGRESS_INTERVAL": "0.2",
        **extra,
    }


def test_log_file_is_timestamped_plain_text_with_progress_summary_and_no_secret(slow_loris, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "mirror.log"
    log.parent.mkdir()
    env = unattended_env(slow_loris)
    assert run_cli("--log-file", log, "mirror", tmp_path / "d", "--jobs", "2", env=env).code == 0
    first = log.read_text()
    assert run_cli("--log-file", log, "mirror", tmp_path / "d", env=env).code == 0  # appends
    text = log.read_text()
    assert text.startswith(first) and len(text) > len(first)
    lines = text.splitlines()
    assert all(TIMESTAMP.match(line) for line in lines), [line for line in lines if not TIMESTAMP.match(line)][:3]
    assert sum("progress: " in line for line in lines) >= 2
    assert sum("mirror: done:" in line for line in lines) == 2
    assert "\x1b" not in text
    assert SECRET not in text and "eyJ" not in text  # neither the password nor a JWT


def test_errors_reach_the_log_file_too(tmp_path: Path) -> None:
    log = tmp_path / "mirror.log"
    env = {
        "NEUROFETCH_URL": "http://127.0.0.1:9/api",
        "NEUROFETCH_SERVICE": "loris",
        "NEUROFETCH_USERNAME": "cron-user",
    }
    result = run_cli("--log-file", log, "mirror", tmp_path / "d", env=env)
    assert result.code == 3
    assert "ERROR no LORIS credentials for 'cron-user'" in log.read_text()
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_log_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli("--log-file", tmp_path / "missing" / "x.log", "mirror", tmp_path / "d")
    assert result.code == 2 and "log file" in result.stderr and "Traceback" not in result.stderr


def test_progress_without_a_terminal_is_lines_never_redraws_even_with_force_color(slow_loris, tmp_path: Path) -> None:
    result = run_subprocess("mirror", tmp_path / "d", "--jobs", "2", env=unattended_env(slow_loris, FORCE_COLOR="1"))
    assert result.code == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if "progress: " in line]
    assert len(progress) >= 2
    assert not REDRAW.search(result.stderr), repr(result.stderr[:300])
    assert result.stderr.splitlines()[-1].startswith("mirror: done:") or "mirror: done:" in result.stderr


def spawn_on_a_terminal(*args: str, env: dict[str, str]) -> object:
    pexpect = pytest.importorskip("pexpect", reason="pexpect gives the run a pseudo-terminal (POSIX only)")
    return pexpect.spawn(
        sys.executable,
        ["-m", "neurofetch", *args],
        env={**os.environ, "TERM": "xterm", **env},
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 160),
    )


def screen_of(child: object) -> str:
    import pexpect

    child.expect(pexpect.EOF)  # type: ignore[attr-defined]
    child.close()  # type: ignore[attr-defined]
    return child.before  # type: ignore[attr-defined]


def test_no_color_is_honoured_on_a_terminal(loris, loris_env, tmp_path: Path) -> None:
    args = ["mirror", str(tmp_path / "d"), "--candidate", "999999"]
    coloured = screen_of(spawn_on_a_terminal(*args, env=loris_env))
    plain = screen_of(spawn_on_a_terminal(*args, env={**loris_env, "NO_COLOR": "1"}))
    flag = screen_of(spawn_on_a_terminal("--no-color", *args, env=loris_env))
    assert "candidate 999999" in coloured and COLOUR.search(coloured)  # bars and the failure, in colour
    assert "candidate 999999" in plain and not COLOUR.search(plain)
    assert "candidate 999999" in flag and not COLOUR.search(flag)


def test_no_input_never_prompts_even_on_a_terminal(loris, tmp_path: Path) -> None:
    env = {"NEUROFETCH_URL": loris.url, "NEUROFETCH_SERVICE": "loris", "NEUROFETCH_USERNAME": "demo"}
    asking = spawn_on_a_terminal("mirror", str(tmp_path / "d"), env=env)
    asking.expect("LORIS password for demo: ")  # type: ignore[attr-defined]  # the control: a terminal asks
    asking.sendintr()  # type: ignore[attr-defined]
    screen_of(asking)
    started = time.monotonic()
    child = spawn_on_a_terminal("--no-input", "mirror", str(tmp_path / "d"), env=env)
    screen = screen_of(child)
    assert child.exitstatus == 3, screen  # type: ignore[attr-defined]
    assert "password" not in screen.split("error:")[0].lower()
    assert "NEUROFETCH_PASSWORD" in screen and time.monotonic() - started < 15


def test_without_a_terminal_a_missing_password_is_exit_3_at_once(loris, tmp_path: Path) -> None:
    env = {**os.environ, "NEUROFETCH_URL": loris.url, "NEUROFETCH_SERVICE": "loris", "NEUROFETCH_USERNAME": "demo"}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "neurofetch", "mirror", str(tmp_path / "d")],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3 and "NEUROFETCH_PASSWORD" in proc.stderr
    assert time.monotonic() - started < 15


class LockHolder:
    """Another process holding DEST's lock, as a long previous run would."""

    def __init__(self, dest: Path, name: str = "lock", within: str = "") -> None:
        code = (
            "import sys, time; from pathlib import Path; from neurofetch.transfer.lock import DestinationLock; "
            "DestinationLock(Path(sys.argv[1]), sys.argv[2], within=sys.argv[3] or None).acquire(); "
            "print('held', flush=True); time.sleep(120)"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(dest), name, within], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def test_a_run_that_finds_the_destination_locked_exits_4_fast(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    cand = sorted(loris.dataset.expected_tree())[0].split("/")[0]
    assert run_cli("mirror", dest, "--candidate", cand, env=loris_env).code == 0
    before = tree_files(dest)
    with LockHolder(dest) as holder:
        started = time.monotonic()
        result = run_subprocess("mirror", dest, env=loris_env)
        elapsed = time.monotonic() - started
    assert result.code == 4
    assert f"pid {holder.proc.pid}" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert elapsed < 10
    assert tree_files(dest) == before


def write_cron_setup(home: Path, url: str) -> Path:
    """What docs/cron.md steps 1 and 2 tell a user to do, done here with the emulator's URL."""
    from tests.test_config_wizard import run_config

    assert run_config("set", "preventad", "service=loris", f"url={url}", "username=demo", "jobs=4").code == 0
    password = home / ".config" / "neurofetch" / "preventad.password"
    password.write_text("demo\n")
    password.chmod(0o600)
    script = home / "bin" / "mirror-preventad"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(doc_block("cron.md", "#!/bin/sh"))
    script.chmod(0o755)
    return script


@pytest.fixture
def small_loris() -> Iterator[object]:
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    emulator = LorisEmulator(LorisDataset(candidates=2, size_scale=0.002))
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


def test_the_cron_recipe_runs_as_written(small_loris, isolated_home: Path) -> None:
    loris = small_loris
    script = write_cron_setup(isolated_home, loris.url)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    for key in [k for k in env if k.startswith("NEUROFETCH_")]:
        del env[key]  # cron gives the script nothing else
    first = subprocess.run(
        [str(script)], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""  # -q: at most the summary line, no progress, no error
    assert all(line.startswith("mirror: done: ") for line in first.stderr.splitlines()), first.stderr
    dest = isolated_home / "data" / "preventad"
    assert tree_files(dest) == loris.dataset.expected_tree()
    log = isolated_home / ".local" / "state" / "neurofetch" / "mirror-preventad.log"
    assert "mirror: done:" in log.read_text() and "demo\n" not in log.read_text()
    with LockHolder(dest):
        overlap = subprocess.run(
            [str(script)], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
    assert overlap.returncode == 4 and "another neurofetch run holds" in overlap.stderr
    assert "another neurofetch run holds" in log.read_text()


def test_the_github_actions_fetch_step_runs_as_written(small_loris, tmp_path: Path) -> None:
    """docs/ci.md's workflow: valid YAML, the cache holds the mirror's destination, and the fetch step's
    command, with its env (secrets filled in, the URL pointed at the emulator), runs under bash."""
    import json

    import yaml

    workflow = yaml.safe_load(doc_block("ci.md", "name: analysis"))
    steps = workflow["jobs"]["analysis"]["steps"]
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache"))
    fetch = next(s for s in steps if "neurofetch" in str(s.get("run", "")) and "mirror" in s["run"])
    assert f"mirror {cache['with']['path']} " in fetch["run"]
    proc = run_step(fetch["run"], fetch["env"], small_loris.url, tmp_path)  # type: ignore[attr-defined]
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "mirror-result.json").read_text())
    assert result["status"] == "ok" and result["counts"]["downloaded"] > 0
    fetched = set(tree_files(tmp_path / cache["with"]["path"]))
    expected = {p for p in small_loris.dataset.expected_tree() if "t1w" in p.rsplit("/", 1)[-1]}  # type: ignore
    assert fetched == expected


def run_step(
    command: str, step_env: dict[str, str], url: str, runner: Path, **expressions: str
) -> subprocess.CompletedProcess[str]:
    """A GitHub Actions ``run:`` step of docs/ci.md under bash in ``runner``, its ``${{ ... }}`` expressions
    filled in (the secrets, and ``expressions`` such as a matrix value), its URL pointed at the emulator."""
    values = {"vars.PREVENTAD_USERNAME": "demo", "secrets.PREVENTAD_PASSWORD": "demo", **expressions}

    def fill(text: str) -> str:
        return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values[m.group(1)], text)

    env = {k: fill(str(v)) for k, v in step_env.items()}
    env["NEUROFETCH_URL"] = url
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEUROFETCH_")}
    return subprocess.run(
        ["bash", "-e", "-c", fill(command)],
        cwd=runner,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**clean, **env, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "CI": "true"},
        capture_output=True,
        timeout=120,
    )


def test_the_github_actions_shard_matrix_runs_as_written(tmp_path: Path) -> None:
    """docs/ci.md's matrix: each entry's command on a runner of its own (with the fetch step's env, "as above")
    fetches its share into its own cached folder; together the shares are the study, each file once; a
    re-run on each restored cache fetches nothing."""
    import yaml

    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    fetch_env = next(
        s
        for s in yaml.safe_load(doc_block("ci.md", "name: analysis"))["jobs"]["analysis"]["steps"]
        if "mirror" in str(s.get("run", ""))
    )["env"]
    matrix = yaml.safe_load(doc_block("ci.md", "    strategy:"))
    command = next(s["run"] for s in matrix["steps"] if "neurofetch" in str(s.get("run", "")))
    shards = matrix["strategy"]["matrix"]["shard"]
    loris = LorisEmulator(LorisDataset(size_scale=0.002))  # 6 candidates: every one of 3 shards gets some
    with loris.serve() as server:
        url, shares = loris.base_url(server), []
        for shard in shards:
            runner = tmp_path / f"runner-{shard}"
            runner.mkdir()
            proc = run_step(command, fetch_env, url, runner, **{"matrix.shard": str(shard)})
            assert proc.returncode == 0, proc.stderr
            shares.append(tree_files(runner / "data" / "preventad"))
        loris.log.clear()
        for shard in shards:
            proc = run_step(command, fetch_env, url, tmp_path / f"runner-{shard}", **{"matrix.shard": str(shard)})
            assert proc.returncode == 0, proc.stderr
    expected = loris.dataset.expected_tree()
    assert all(shares) and sum(len(s) for s in shares) == len(expected)  # disjoint
    assert {k: v for share in shares for k, v in share.items()} == expected  # complete, byte-exact
    assert not [e for e in loris.log.entries() if e.method == "GET" and "/images/" in e.path]  # re-run: nothing
