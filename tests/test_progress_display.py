"""The live progress display, read off a real pseudo-terminal while a mirror runs against the LORIS emulator."""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from neurofetch.emulators.common import Faults
from neurofetch.emulators.loris.app import LorisEmulator
from neurofetch.emulators.loris.data import LorisDataset
from neurofetch.ui.text import human_bytes

pexpect = pytest.importorskip("pexpect", reason="the display is read through a pseudo-terminal (POSIX only)")

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STATUS = re.compile(r"files (\d+)/(≥?)(\d+)")
FINAL = re.compile(r"^files (\d+)/(\d+), ([\d.]+ k?M?G?B) in ([\d.]+) s$", re.MULTILINE)
SUMMARY = re.compile(r"^mirror: done: .*?([\d.]+ k?M?G?B) in ([\d.]+) s$", re.MULTILINE)


@dataclass
class Screen:
    code: int
    text: str  # what the terminal showed, escapes removed, one line per redraw
    document: dict  # the --json result


def screen_of_mirror(url: str, dest: Path, tmp_path: Path, **env: str) -> Screen:
    """``neurofetch --json mirror DEST`` with stderr on a terminal 200 columns wide and stdout in a file."""
    out = tmp_path / "result.json"
    child_env = {
        **os.environ,
        "TERM": "xterm",
        "COLUMNS": "200",
        "LINES": "50",
        "NEUROFETCH_URL": url,
        "NEUROFETCH_SERVICE": "loris",
        "NEUROFETCH_USERNAME": "demo",
        "NEUROFETCH_PASSWORD": "demo",
        "NEUROFETCH_JOBS": "2",
        **env,
    }
    command = f"exec {sys.executable} -m neurofetch --json mirror '{dest}' > '{out}'"
    child = pexpect.spawn(
        "/bin/sh", ["-c", command], env=child_env, encoding="utf-8", timeout=120, dimensions=(50, 200)
    )
    raw = child.read()
    child.close()
    text = "\n".join(line for line in ESCAPE.sub("", raw).replace("\r", "\n").splitlines() if line.strip())
    return Screen(child.exitstatus, text, json.loads(out.read_text()))


@pytest.fixture
def slow_loris() -> Iterator[LorisEmulator]:
    """Listings that take a while to arrive, and one 3 MB file that trickles in."""
    emulator = LorisEmulator(
        LorisDataset(candidates=2, size_scale=0.004, big_file_size=3_000_000),
        faults=Faults(latency=0.05, drip=2_000_000, range_support=True),
    )
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


def assert_final_frame_is_the_summary(screen: Screen) -> None:
    final = FINAL.findall(screen.text)
    summary = SUMMARY.findall(screen.text)
    assert final and summary, screen.text[-2000:]
    files, total, shown_bytes, seconds = final[-1]
    counts = screen.document["counts"]
    assert int(files) == int(total) == counts.get("downloaded", 0) + counts.get("skipped", 0)
    assert (shown_bytes, seconds) == summary[-1]
    assert shown_bytes == human_bytes(screen.document["bytes"])
    assert seconds == f"{screen.document['seconds']:.1f}" or abs(float(seconds) - screen.document["seconds"]) < 0.06


def test_the_total_never_decreases_and_reads_at_least_while_listing(slow_loris, tmp_path: Path) -> None:
    screen = screen_of_mirror(
        slow_loris.url,
        tmp_path / "study",
        tmp_path,  # type: ignore[attr-defined]
        NEUROFETCH_PROGRESS_BIG_FILE="1000000",
    )
    assert screen.code == 0, screen.text[-2000:]
    frames = [(int(done), bound, int(total)) for done, bound, total in STATUS.findall(screen.text)]
    assert len(frames) > 3, screen.text
    assert any(bound == "≥" for _, bound, _ in frames)
    assert "listing…" in screen.text
    for (done, _, total), (next_done, _, next_total) in itertools.pairwise(frames):
        assert next_total >= total and next_done >= done, frames
    assert all(done <= total for done, _, total in frames)
    assert frames[-1][1] == ""  # the last frame has a fixed total
    assert_final_frame_is_the_summary(screen)


def test_a_big_file_in_flight_has_its_own_line_with_bytes_and_rate(slow_loris, tmp_path: Path) -> None:
    big = slow_loris.dataset.big_file
    screen = screen_of_mirror(
        slow_loris.url,
        tmp_path / "study",
        tmp_path,  # type: ignore[attr-defined]
        NEUROFETCH_PROGRESS_BIG_FILE="2000000",
    )
    assert screen.code == 0, screen.text[-2000:]
    lines = [line for line in screen.text.splitlines() if big.filename in line]
    assert lines, screen.text[-3000:]
    assert any(re.search(r"  [\d.]+ k?MB/3\.0 MB  [\d.]+ k?M?B/s", line) for line in lines), lines
    other = [line for line in screen.text.splitlines() if line.startswith("  ") and big.filename not in line]
    assert not other, other[:5]  # small files get no line of their own


def test_resumed_and_skipped_files_count_the_same_in_the_last_frame_and_the_summary(slow_loris, tmp_path) -> None:
    """The summary counts a resumed file whole; so does the last frame, whatever arrived in this run."""
    dest = tmp_path / "study"
    kept = sorted(slow_loris.dataset.expected_tree())[0]
    resumed = dest / slow_loris.dataset.big_file.path
    first = screen_of_mirror(slow_loris.url, dest, tmp_path, NEUROFETCH_PROGRESS_BIG_FILE="100000000")
    assert first.code == 0
    for path in dest.rglob("*"):  # keep one file complete and half of the big one as a .part
        rel = path.relative_to(dest).as_posix()
        if path.is_file() and not rel.startswith(".neurofetch") and rel != kept and not rel.endswith(".json"):
            if path == resumed:
                path.with_name(path.name + ".part").write_bytes(path.read_bytes()[:1_500_000])
            path.unlink()
    screen = screen_of_mirror(slow_loris.url, dest, tmp_path, NEUROFETCH_PROGRESS_BIG_FILE="100000000")
    assert screen.code == 0, screen.text[-2000:]
    assert screen.document["counts"]["skipped"] == 1
    assert_final_frame_is_the_summary(screen)


def test_nothing_draws_under_the_password_prompt_and_errors_get_their_own_lines(tmp_path: Path) -> None:
    emulator = LorisEmulator(LorisDataset(candidates=2, size_scale=0.004), faults=Faults(missing_files=1, latency=0.1))
    with emulator.serve() as server:
        env = {
            **os.environ,
            "TERM": "xterm",
            "COLUMNS": "200",
            "NEUROFETCH_URL": emulator.base_url(server),
            "NEUROFETCH_SERVICE": "loris",
            "NEUROFETCH_USERNAME": "demo",
            "NEUROFETCH_NO_KEYRING": "1",
            "NEUROFETCH_RETRIES": "0",
        }
        child = pexpect.spawn(
            sys.executable,
            ["-m", "neurofetch", "mirror", str(tmp_path / "study")],
            env=env,
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 200),
        )
        child.expect("password for demo: ")
        time.sleep(1.0)  # a display started too early would redraw now, under the prompt
        try:
            before_answer = child.before + child.read_nonblocking(100_000, timeout=0.5)
        except pexpect.TIMEOUT:
            before_answer = child.before
        child.sendline("demo")
        raw = child.read()
        child.close()
    assert "files" not in ESCAPE.sub("", before_answer), before_answer
    assert child.exitstatus == 1, raw
    failures = [m.start() for m in re.finditer("failed: ", raw)]
    assert failures, raw
    for start in failures:  # the bar is cleared first: only cursor moves and erases since the line began
        line_start = max(raw.rfind("\n", 0, start), raw.rfind("\r", 0, start)) + 1
        assert not ESCAPE.sub("", raw[line_start:start]).strip(), repr(raw[line_start - 200 : start + 20])
    assert STATUS.search(ESCAPE.sub("", raw[failures[0] :])), "the bar is drawn again after the error line"


def test_a_reporter_written_for_the_older_events_still_hears_every_byte(loris, tmp_path: Path) -> None:
    """A notebook's own reporter knows neither ``sized``/``listed``/``ended`` nor the label of ``advanced``."""
    from neurofetch import api

    class OlderReporter:
        def __init__(self) -> None:
            self.bytes, self.files = 0, 0

        def queued(self, files: int = 0, nbytes: int = 0) -> None: ...
        def started(self, label: str, total: int | None) -> None: ...
        def failed(self, label: str, error: str) -> None: ...
        def note(self, message: str) -> None: ...
        def close(self) -> None: ...

        def advanced(self, nbytes: int) -> None:
            self.bytes += nbytes

        def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
            self.files += 1

    older = OlderReporter()
    result = api.mirror(
        tmp_path / "study",
        url=loris.url,
        service="loris",
        username="demo",  # type: ignore[attr-defined]
        password="demo",
        reporter=older,
    )
    assert result.exit_code == 0, result.failures
    assert older.files == result.counts["downloaded"] and older.bytes == result.bytes
