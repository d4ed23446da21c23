"""Retries, integrity, token expiry and verification against the LORIS emulator's fault knobs."""

from __future__ import annotations

import email.utils
import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import run_cli
from tests.resilience_support import (
    Recorder,
    assert_nothing_partial_taken_for_complete,
    data_files,
    part_files,
    serve_loris,
    the_error_line,
)

FAST = {"NEUROFETCH_RETRY_WAIT_MAX": "0.2"}
# Many quick retries for the heavy-fault runs: the waits of one item may add up to 1 s, so 0.05 s
# each leaves room for all 20.
MANY = {"NEUROFETCH_RETRY_WAIT_MAX": "0.05", "NEUROFETCH_RETRIES": "20"}


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# -- 1. retries --------------------------------------------------------------------------------------------


def test_a_server_failing_from_the_start_ends_with_exit_5_after_a_few_spaced_attempts(tmp_path: Path) -> None:
    # Retry-After: 0 on every 503 must not turn into a tight loop: the backoff still applies.
    with serve_loris("error_rate=1,retry_after=0", record=True) as loris:
        env = loris.env(NEUROFETCH_RETRIES="2", NEUROFETCH_RETRY_WAIT_MAX="5")
        result = run_cli("mirror", tmp_path / "d", env=env)
        logins = loris.recorder.times("POST", "/login")  # type: ignore[union-attr]
    assert result.code == 5, result.stderr
    assert "503" in the_error_line(result.stderr)
    assert len(logins) == 3  # the first try and two retries, then it stops
    first, second = gaps(logins)
    assert first >= 0.24 and second >= 0.49  # exponential: at least 0.25 s, then at least 0.5 s
    assert data_files(tmp_path / "d") == {}


def test_the_total_wait_for_one_item_is_capped(tmp_path: Path) -> None:
    with serve_loris("error_rate=1", record=True) as loris:
        started = time.monotonic()
        result = run_cli("mirror", tmp_path / "d", env=loris.env(NEUROFETCH_RETRIES="50", **FAST))
        elapsed = time.monotonic() - started
        attempts = len(loris.recorder.times("POST", "/login"))  # type: ignore[union-attr]
    assert result.code == 5
    # 50 retries were allowed, but waits of at most 0.2 s may add up to 1 s (five times the longest wait).
    assert attempts <= 8 and elapsed < 5


def test_retry_after_in_seconds_is_honoured(tmp_path: Path) -> None:
    with serve_loris("error_rate=1,retry_after=1.2", record=True) as loris:
        result = run_cli("mirror", tmp_path / "d", env=loris.env(NEUROFETCH_RETRIES="1", NEUROFETCH_RETRY_WAIT_MAX="5"))
        logins = loris.recorder.times("POST", "/login")  # type: ignore[union-attr]
    assert result.code == 5
    assert len(logins) == 2 and gaps(logins)[0] >= 1.15  # the backoff alone would be 0.25–0.75 s


def test_retry_after_as_an_http_date_is_honoured(tmp_path: Path) -> None:
    def as_date(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        out = []
        for key, value in headers:
            if key.lower() == b"retry-after":
                value = email.utils.formatdate(time.time() + float(value), usegmt=True).encode()
            out.append((key, value))
        return out

    with serve_loris(
        "error_rate=1,retry_after=2", recorder=lambda app: Recorder(app, rewrite_headers=as_date)
    ) as loris:
        result = run_cli("mirror", tmp_path / "d", env=loris.env(NEUROFETCH_RETRIES="1", NEUROFETCH_RETRY_WAIT_MAX="5"))
        logins = loris.recorder.times("POST", "/login")  # type: ignore[union-attr]
    assert result.code == 5
    # The date has whole seconds, so "2 s from now" means more than 1 s; the backoff alone is at most 0.75 s.
    assert len(logins) == 2 and gaps(logins)[0] >= 0.95


def add_ghost_file(visit_suffix: str, ghost: str) -> Callable[[str], Callable[[bytes], bytes] | None]:
    """A proxy that adds a file the server does not have to one visit's image list."""

    def transform(path: str) -> Callable[[bytes], bytes] | None:
        if not path.endswith(visit_suffix + "/images"):
            return None

        def change(body: bytes) -> bytes:
            listing = json.loads(body)
            listing["Files"].append({**listing["Files"][0], "Filename": ghost})
            return json.dumps(listing).encode()

        return change

    return transform


def test_a_4xx_file_is_not_retried_and_the_others_finish(tmp_path: Path) -> None:
    from neurofetch.emulators.loris.app import LorisDataset

    dataset = LorisDataset(candidates=1)
    first = dataset.files[0]
    ghost = f"preventad_{first.cand}_{first.visit}_ghost_001.mnc"
    transform = add_ghost_file(f"/{first.cand}/{first.visit}", ghost)
    with serve_loris(recorder=lambda app: Recorder(app, transform=transform)) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env(NEUROFETCH_RETRIES="5", **FAST))
        ghost_gets = loris.file_gets(ghost)
        expected = loris.dataset.expected_tree()
    assert result.code == 1, result.stderr
    assert len(ghost_gets) == 1 and ghost_gets[0].status == 404  # 404 is final: asked once
    doc = result.json
    assert doc["status"] == "partial" and doc["exit_code"] == 1
    failed = {f["item"]: f["error"] for f in doc["failures"]}
    assert f"{first.cand}/{first.visit}/{ghost}" in failed
    assert "404" in failed[f"{first.cand}/{first.visit}/{ghost}"]
    assert all(ghost in item for item in failed)  # nothing else failed
    assert data_files(tmp_path / "d") == expected  # every other file is complete
    assert f"failed: {first.cand}/{first.visit}/{ghost}" in result.stderr


# -- 2. integrity of every file --------------------------------------------------------------------------


def test_an_html_page_instead_of_a_file_is_never_saved(tmp_path: Path) -> None:
    with serve_loris("html_rate=1") as loris:
        name = loris.dataset.files[0].filename
        result = run_cli(
            "--json",
            "mirror",
            tmp_path / "d",
            "--include",
            name,
            "--no-qc",
            env=loris.env(NEUROFETCH_RETRIES="2", **FAST),
        )
        attempts = len(loris.file_gets(name))
    assert result.code == 1
    assert attempts == 3  # a proxy's page is worth retrying
    [failure] = result.json["failures"]
    assert failure["item"].endswith(name) and "HTML page" in failure["error"]
    assert data_files(tmp_path / "d") == {}
    assert part_files(tmp_path / "d") == []  # no empty .part left behind


def test_cut_reset_and_html_bodies_are_retried_until_every_file_is_exact(tmp_path: Path) -> None:
    with serve_loris("truncate_rate=0.25,reset_rate=0.25,html_rate=0.15,seed=5", size_scale=0.01) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env(**MANY))
        gets = len(loris.file_gets())
        expected = loris.dataset.expected_tree()
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == expected
    assert gets > len(expected)  # some bodies did need a second try
    assert part_files(tmp_path / "d") == []


def smallest_multi_chunk_file(loris: object) -> object:
    """A file whose truncation point (half its size) lies after the emulator's first 64 KiB chunk."""
    return min((f for f in loris.dataset.files if f.size // 2 > 65536), key=lambda f: f.size)  # type: ignore[attr-defined]


def test_a_transfer_cut_late_still_gets_its_retries_and_resumes_with_range(tmp_path: Path) -> None:
    # The first answer is dripped for about 1.2 s, then cut: longer than the 1 s the waits may add up
    # to here, which must not count against the retries. The server supports Range, so the retry
    # asks only for the rest.
    with serve_loris("truncate_rate=0.5,seed=1,drip=55000,range_support=1") as loris:
        record = smallest_multi_chunk_file(loris)
        result = run_cli(
            "mirror", tmp_path / "d", "--include", record.filename, "--no-qc", "--jobs", "1", env=loris.env(**FAST)
        )
        gets = loris.file_gets(record.filename)
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == {record.path: loris.dataset.content(*record.key)}
    assert [g.status for g in gets] == [200, 206]
    offset = int(gets[1].headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 65536 < offset < record.size
    assert_nothing_partial_taken_for_complete(tmp_path / "d", loris.dataset.expected_tree())  # journal sha256 too


def test_a_server_that_ignores_range_makes_the_retry_start_over(tmp_path: Path) -> None:
    with serve_loris("truncate_rate=0.5,seed=1") as loris:  # LORIS: no Range support
        record = smallest_multi_chunk_file(loris)
        result = run_cli("mirror", tmp_path / "d", "--include", record.filename, "--no-qc", env=loris.env(**FAST))
        gets = loris.file_gets(record.filename)
    assert result.code == 0, result.stderr
    assert [g.status for g in gets] == [200, 200]
    assert gets[1].headers.get("range", "").startswith("bytes=")  # asked to resume, got the whole file
    assert data_files(tmp_path / "d") == {record.path: loris.dataset.content(*record.key)}


def test_verify_reports_changed_and_vanished_files_then_fetches_them_again(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with serve_loris(size_scale=0.005) as loris:
        env = loris.env()
        assert run_cli("mirror", dest, env=env).code == 0
        expected = loris.dataset.expected_tree()
        changed, vanished = sorted(expected)[:2]
        target = dest / changed
        stat = target.stat()
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF  # same size, same mtime: only a hash can tell
        target.write_bytes(bytes(data))
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        plain = run_cli("mirror", dest, env=env)  # size and mtime look right: a plain run trusts them
        assert plain.code == 0 and (dest / changed).read_bytes() != expected[changed]
        (dest / vanished).unlink()

        loris.emulator.log.clear()
        only = run_cli("--json", "mirror", dest, "--verify-only", env=env)
        assert only.code == 6, only.stderr
        problems = {p["item"]: p["error"] for p in only.json["integrity"]}
        assert set(problems) == {changed, vanished}
        assert "sha256" in problems[changed] and "missing" in problems[vanished]
        assert "2 files changed on disk:" in only.stderr and f"  {changed}: " in only.stderr
        assert loris.file_gets() == []  # --verify-only fetches nothing
        assert not (dest / vanished).exists()

        fixed = run_cli("--json", "mirror", dest, "--verify", env=env)
        assert fixed.code == 6
        assert {p["item"] for p in fixed.json["integrity"]} == {changed, vanished}
        assert fixed.json["counts"]["downloaded"] == 2
        assert data_files(dest) == expected

        again = run_cli("--json", "mirror", dest, "--verify", env=env)
        assert again.code == 0 and again.json["counts"]["verified"] == len(expected)


# -- 3. token expiry -------------------------------------------------------------------------------------


def test_a_short_lived_token_is_renewed_before_it_expires(tmp_path: Path) -> None:
    # Tokens live 2 s here and the mirror takes longer: it logs in again before exp, so the server
    # never has to refuse a request; and not once per request either.
    with serve_loris("drip=300000", size_scale=0.005, token_ttl=2) as loris:
        started = time.monotonic()
        result = run_cli("mirror", tmp_path / "d", "--jobs", "4", env=loris.env())
        elapsed = time.monotonic() - started
        refused = [e for e in loris.emulator.log.entries() if e.status == 401]
        logins = loris.emulator.logins
        expected = loris.dataset.expected_tree()
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == expected
    assert elapsed > 2.5
    assert refused == []
    assert 2 <= logins <= elapsed / 0.5 + 2


def test_an_unexpected_401_means_one_login_and_the_request_again(tmp_path: Path) -> None:
    with serve_loris("token_expiry_after=7", size_scale=0.005) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env())
        entries = loris.emulator.log.entries()
        logins = loris.emulator.logins
        expected = loris.dataset.expected_tree()
        complete_gets: dict[str, int] = {}
        for entry in loris.file_gets():
            if entry.status == 200:
                complete_gets[entry.path] = complete_gets.get(entry.path, 0) + 1
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == expected
    assert any(e.status == 401 for e in entries)
    assert logins >= 2
    assert set(complete_gets.values()) == {1}  # no file was fetched twice because of a re-login


def test_a_refused_login_is_never_tried_again(tmp_path: Path) -> None:
    with serve_loris("token_expiry_after=6", size_scale=0.005, password="right") as loris:
        # At the start: wrong password, one attempt, exit 3, whatever the retry count.
        start = run_cli("mirror", tmp_path / "a", env=loris.env(NEUROFETCH_PASSWORD="wrong", NEUROFETCH_RETRIES="5"))
        assert start.code == 3 and "Incorrect username or password" in start.stderr
        assert loris.emulator.failed_logins == 1
        # Mid-run: a valid token runs out, the re-login is refused; four workers hit the 401 at once,
        # and still only one login is tried (repeated bad logins would suspend the account).
        token = loris.emulator.issue_token("demo")
        mid = run_cli(
            "mirror",
            tmp_path / "b",
            "--jobs",
            "4",
            env=loris.env(NEUROFETCH_PASSWORD="wrong", NEUROFETCH_TOKEN=token, NEUROFETCH_RETRIES="5"),
        )
        assert mid.code == 3, mid.stderr
        assert "refused the login" in mid.stderr and "Traceback" not in mid.stderr
        assert loris.emulator.failed_logins == 2
        assert loris.emulator.suspended_users == set()


# -- 11. soak ---------------------------------------------------------------------------------------------

SOAK = (
    "error_rate=0.12,rate_limit_rate=0.03,truncate_rate=0.1,reset_rate=0.1,html_rate=0.03,token_expiry_after=50,seed=11"
)


def test_soak_mixed_faults_end_byte_exact(tmp_path: Path) -> None:
    with serve_loris(SOAK, candidates=2, size_scale=0.01) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env(**MANY))
        statuses = [e.status for e in loris.emulator.log.entries()]
        expected = loris.dataset.expected_tree()
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == expected
    assert part_files(tmp_path / "d") == []
    assert statuses.count(503) >= 0.1 * len(statuses) * 0.6  # the faults really happened
    assert statuses.count(401) >= 1 and statuses.count(429) >= 1
    assert result.json["counts"]["downloaded"] == len(expected)


def test_soak_with_one_permanently_missing_file_lists_exactly_that_file(tmp_path: Path) -> None:
    with serve_loris(SOAK + ",missing_files=1", candidates=2, size_scale=0.01) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env(**MANY))
        missing = loris.dataset.files[0]
        expected = loris.dataset.expected_tree()
        missing_gets = [e.status for e in loris.file_gets(missing.filename)]
    assert result.code == 1, result.stderr
    assert [f["item"] for f in result.json["failures"]] == [missing.path]
    assert "HTTP 50" in result.json["failures"][0]["error"]  # its 500, or a 503 fault on the last try
    assert 500 in missing_gets and 200 not in missing_gets
    del expected[missing.path]
    assert data_files(tmp_path / "d") == expected
    assert f"failed: {missing.path}" in result.stderr
