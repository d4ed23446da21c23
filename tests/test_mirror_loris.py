"""`neurofetch mirror` against the LORIS emulator: the tree, the journal, filters, dry-run, re-runs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import every_loris_version
from tests.helpers import run_cli, tree_files

pytestmark = every_loris_version


def file_gets(emulator: object) -> list[str]:
    return [
        e.path
        for e in emulator.log.entries()  # type: ignore[attr-defined]
        if e.method == "GET" and "/images/" in e.path and not e.path.endswith("/qc")
    ]


def test_mirror_is_byte_identical_and_rerun_fetches_no_file(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "study"
    first = run_cli("--json", "mirror", dest, env=loris_env)
    assert first.code == 0, first.stderr
    assert tree_files(dest) == loris.dataset.expected_tree()
    assert first.json["status"] == "ok"
    assert first.json["counts"]["downloaded"] == len(loris.dataset.expected_tree())
    assert first.json["bytes"] == sum(len(b) for b in loris.dataset.expected_tree().values())

    loris.log.clear()
    second = run_cli("--json", "mirror", dest, env=loris_env)
    assert second.code == 0, second.stderr
    assert file_gets(loris) == []
    assert second.json["counts"].get("downloaded", 0) == 0
    assert second.json["counts"]["skipped"] == len(loris.dataset.expected_tree())


def test_metadata_files_are_json(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "study"
    assert run_cli("mirror", dest, env=loris_env).code == 0
    candidates = list(dest.glob("*/candidate.json"))
    sessions = list(dest.glob("*/*/session.json"))
    qcs = list(dest.glob("*/*/*.qc.json"))
    assert candidates and sessions and qcs
    for path in candidates + sessions + qcs:
        json.loads(path.read_text())  # real JSON, never a Python repr
    some = json.loads(candidates[0].read_text())
    assert some["Meta"]["CandID"] == candidates[0].parent.name
    assert len(qcs) == len(loris.dataset.expected_tree())


def test_journal_records_size_and_sha256(loris, loris_env, tmp_path: Path) -> None:
    import hashlib
    import sqlite3

    dest = tmp_path / "study"
    assert run_cli("mirror", dest, env=loris_env).code == 0
    rows = (
        sqlite3.connect(dest / ".neurofetch" / "state.sqlite3")
        .execute("SELECT path, size, sha256, source FROM files")
        .fetchall()
    )
    expected = loris.dataset.expected_tree()
    assert {r[0] for r in rows} == set(expected)
    for path, size, digest, source in rows:
        assert size == len(expected[path])
        assert digest == hashlib.sha256(expected[path]).hexdigest()
        assert source.startswith(loris.url) and source.endswith(path.split("/")[-1])


def test_candidate_and_visit_filters(loris, loris_env, tmp_path: Path) -> None:
    cands = sorted({p.split("/")[0] for p in loris.dataset.expected_tree()})
    pick = cands[0]
    visits = sorted({p.split("/")[1] for p in loris.dataset.expected_tree() if p.startswith(pick + "/")})
    dest = tmp_path / "one"
    result = run_cli("mirror", dest, "--candidate", pick, "--visit", visits[0], env=loris_env)
    assert result.code == 0, result.stderr
    got = set(tree_files(dest))
    assert got == {p for p in loris.dataset.expected_tree() if p.startswith(f"{pick}/{visits[0]}/")}


def test_repeated_candidate_flags_keep_all_values(loris, loris_env, tmp_path: Path) -> None:
    cands = sorted({p.split("/")[0] for p in loris.dataset.expected_tree()})[:2]
    dest = tmp_path / "two"
    assert run_cli("mirror", dest, "--candidate", cands[0], "--candidate", cands[1], env=loris_env).code == 0
    assert {p.split("/")[0] for p in tree_files(dest)} == set(cands)


def test_include_and_exclude(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "f"
    result = run_cli("mirror", dest, "--include", "*.mnc", "--exclude", "*fieldmap*", "--no-qc", env=loris_env)
    assert result.code == 0, result.stderr
    expected = {p for p in loris.dataset.expected_tree() if p.endswith(".mnc") and "fieldmap" not in p}
    assert set(tree_files(dest)) == expected and expected
    assert not list(dest.glob("*/*/*.qc.json"))


def test_dry_run_changes_nothing(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "dry"
    result = run_cli("--json", "mirror", dest, "--dry-run", env=loris_env)
    assert result.code == 0, result.stderr
    assert not dest.exists()
    assert file_gets(loris) == []
    planned = {p["path"] for p in result.json["planned"] if p["action"] == "download"}
    assert planned == set(loris.dataset.expected_tree())


def test_dry_run_on_a_partial_tree_lists_only_missing(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "partial"
    cands = sorted({p.split("/")[0] for p in loris.dataset.expected_tree()})
    assert run_cli("mirror", dest, "--candidate", cands[0], env=loris_env).code == 0
    before = tree_files(dest)
    result = run_cli("--json", "mirror", dest, "--dry-run", env=loris_env)
    assert tree_files(dest) == before
    planned = {p["path"] for p in result.json["planned"] if p["action"] == "download"}
    assert planned == {p for p in loris.dataset.expected_tree() if not p.startswith(cands[0] + "/")}


def test_progress_lines_without_a_terminal(loris, loris_env, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "p", env={**loris_env, "NEUROFETCH_PROGRESS_INTERVAL": "0"})
    assert result.code == 0
    assert "progress:" in result.stderr
    assert "mirror: done:" in result.stderr
    assert "\r" not in result.stderr


def test_quiet_prints_only_the_summary_on_success(loris, loris_env, tmp_path: Path) -> None:
    result = run_cli("-q", "mirror", tmp_path / "q", env=loris_env)
    assert result.code == 0
    assert result.stdout == "" and result.stderr.startswith("mirror: done: ") and result.stderr.count("\n") == 1


def test_a_candidate_of_another_site_fails_alone_and_the_rest_is_mirrored(loris, loris_env, tmp_path: Path) -> None:
    refused = loris.dataset.candidates[0].cand_id
    loris.forbidden = {refused}  # LORIS 22+: 403 for candidates outside the user's sites
    result = run_cli("--json", "mirror", tmp_path / "study", env=loris_env)
    assert result.code == 1, result.stderr
    [failure] = result.json["failures"]
    assert failure["item"] == f"candidate {refused}"
    assert "access refused (HTTP 403: Permission denied)" in failure["error"]
    expected = {
        path: data for path, data in loris.dataset.expected_tree().items() if not path.startswith(f"{refused}/")
    }
    assert tree_files(tmp_path / "study") == expected

    loris.forbidden = {c.cand_id for c in loris.dataset.candidates}  # nothing allowed (6 candidates): exit 3
    nothing = run_cli("--json", "mirror", tmp_path / "other", env=loris_env)
    assert nothing.code == 3, nothing.stderr
    assert "refuses everything this account asks for" in nothing.json["error"]
    assert tree_files(tmp_path / "other") == {}
