"""`neurofetch mirror --since DATE|last` against the LORIS emulator: what changed costs one listing on a server
that takes ?since= (v0.0.4-dev); older versions say so once and list everything."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import every_loris_version
from tests.helpers import run_cli, tree_files


def api_gets(emulator: object) -> list[str]:
    """The GETs the emulator answered (login is a POST), with their query string."""
    return [
        e.path + (f"?{e.query}" if e.query else "")
        for e in emulator.log.entries()  # type: ignore[attr-defined]
        if e.method == "GET"
    ]


def recorded_runs(dest: Path, journal: str = "state.sqlite3") -> list[str]:
    with sqlite3.connect(dest / ".neurofetch" / journal) as db:
        return [row[0] for row in db.execute("SELECT key FROM records WHERE key LIKE 'loris:complete-run:%'")]


@pytest.fixture
def loris_api_version() -> str:
    return "v0.0.4-dev"


def test_a_no_op_rerun_costs_one_listing_and_a_new_file_only_its_visit(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "study"
    full = run_cli("mirror", dest, env=loris_env)
    assert full.code == 0, full.stderr
    walk = len(api_gets(loris))
    assert len(recorded_runs(dest)) == 1

    loris.log.clear()
    again = run_cli("--json", "mirror", dest, "--since", "last", env=loris_env)
    assert again.code == 0, again.stderr
    [listing] = api_gets(loris)
    assert listing.startswith(loris.base_path + "/projects/loris/images?since=")
    assert walk > 20 * len(api_gets(loris)) and again.json["counts"].get("downloaded", 0) == 0

    cand = loris.dataset.candidates[2]
    new = loris.dataset.add_image(cand.cand_id, cand.visits[0].label)
    loris.log.clear()
    changed = run_cli("--json", "mirror", dest, "--since", "last", env=loris_env)
    assert changed.code == 0, changed.stderr
    assert changed.json["counts"]["downloaded"] == 1
    assert tree_files(dest) == loris.dataset.expected_tree()
    visit = f"{loris.base_path}/candidates/{cand.cand_id}/{new.visit}"
    assert sorted(api_gets(loris)[1:]) == sorted(
        [
            f"{loris.base_path}/candidates/{cand.cand_id}",
            visit,
            f"{visit}/images",
            f"{visit}/images/{new.filename}",
            f"{visit}/images/{new.filename}/qc",
        ]
    )
    loris.log.clear()
    assert run_cli("mirror", dest, "--since", "last", env=loris_env).code == 0
    assert len(api_gets(loris)) == 1  # the new file is listed again (clock margin) but complete: no request


def test_since_a_date_lists_what_was_inserted_after_it(loris, loris_env, tmp_path: Path) -> None:
    files = sorted(loris.dataset.files, key=lambda f: f.insert_time)
    middle = files[len(files) // 2]
    result = run_cli("--json", "mirror", tmp_path / "d", "--since", middle.insert_time, "--no-qc", env=loris_env)
    assert result.code == 0, result.stderr
    assert set(tree_files(tmp_path / "d")) >= {f.path for f in files[len(files) // 2 + 1 :]}
    assert api_gets(loris)[0] == loris.base_path + "/projects"  # nothing recorded here yet: which projects
    assert recorded_runs(tmp_path / "d") == []  # it did not start from a complete run: not one either


def test_since_last_without_a_recorded_run_lists_everything_once(loris, loris_env, tmp_path: Path) -> None:
    first = run_cli("mirror", tmp_path / "d", "--since", "last", env=loris_env)
    assert first.code == 0
    assert first.stderr.count("no complete run of this selection is recorded") == 1
    assert tree_files(tmp_path / "d") == loris.dataset.expected_tree()
    loris.log.clear()
    second = run_cli("mirror", tmp_path / "d", "--since", "last", env=loris_env)
    assert second.code == 0 and "warning" not in second.stderr and len(api_gets(loris)) == 1


def test_filters_and_shards_keep_their_own_complete_runs(loris, loris_env, tmp_path: Path) -> None:
    one, two = loris.dataset.candidates[0], loris.dataset.candidates[2]
    dest = tmp_path / "d"
    for shard in ("1/2", "2/2"):
        assert run_cli("mirror", dest, "--shard", shard, env=loris_env).code == 0
    picked = run_cli("mirror", tmp_path / "one", "--candidate", one.cand_id, env=loris_env)
    assert picked.code == 0
    added = [loris.dataset.add_image(c.cand_id, c.visits[0].label) for c in (one, two)]

    only = run_cli("--json", "mirror", tmp_path / "one", "--candidate", one.cand_id, "--since", "last", env=loris_env)
    assert only.code == 0 and only.json["counts"]["downloaded"] == 1 and "matched nothing" not in only.stderr
    assert (tmp_path / "one" / added[0].path).exists() and not (tmp_path / "one" / added[1].path).exists()
    for shard in ("1/2", "2/2"):
        result = run_cli("mirror", dest, "--shard", shard, "--since", "last", env=loris_env)
        assert result.code == 0 and "warning" not in result.stderr
    assert tree_files(dest) == loris.dataset.expected_tree()


def test_a_dry_run_records_nothing_and_bad_values_are_usage_errors(loris, loris_env, tmp_path: Path) -> None:
    assert (
        run_cli("mirror", tmp_path / "d", "--candidate", loris.dataset.candidates[0].cand_id, env=loris_env).code == 0
    )
    before = recorded_runs(tmp_path / "d")
    assert run_cli("mirror", tmp_path / "d", "--dry-run", env=loris_env).code == 0
    assert recorded_runs(tmp_path / "d") == before
    bad = run_cli("mirror", tmp_path / "e", "--since", "yesterday", env=loris_env)
    assert bad.code == 2 and "--since 'yesterday': give a date (2024-05-01)" in bad.stderr
    other = run_cli(
        "mirror",
        tmp_path / "e",
        "--since",
        "last",
        env={"NEUROFETCH_URL": "http://127.0.0.1:9", "NEUROFETCH_SERVICE": "neurovault"},
    )
    assert other.code == 2 and "--since" in other.stderr


def test_a_server_that_ignores_since_is_noticed_and_everything_listed(loris, loris_env, tmp_path: Path) -> None:
    assert run_cli("mirror", tmp_path / "d", env=loris_env).code == 0
    loris.version = dataclasses.replace(loris.version, since=False)  # v0.0.4-dev in its URL, yet no filtering
    loris.dataset.add_image(loris.dataset.candidates[0].cand_id, loris.dataset.candidates[0].visits[0].label)
    result = run_cli("mirror", tmp_path / "d", "--since", "last", env=loris_env)
    assert result.code == 0
    assert result.stderr.count("this LORIS server ignored ?since=") == 1
    assert tree_files(tmp_path / "d") == loris.dataset.expected_tree()


@every_loris_version
def test_servers_before_v0_0_4_dev_say_so_once_and_list_everything(
    loris, loris_env, tmp_path: Path, loris_api_version: str
) -> None:
    assert run_cli("mirror", tmp_path / "d", env=loris_env).code == 0
    loris.dataset.add_image(loris.dataset.candidates[0].cand_id, loris.dataset.candidates[0].visits[0].label)
    loris.log.clear()
    result = run_cli("mirror", tmp_path / "d", "--since", "last", env=loris_env)
    assert result.code == 0, result.stderr
    assert tree_files(tmp_path / "d") == loris.dataset.expected_tree()
    gets = api_gets(loris)
    if loris_api_version == "v0.0.4-dev":
        assert "not supported" not in result.stderr and len(gets) == 6
    else:
        assert result.stderr.count(f"--since is not supported by this LORIS server (API {loris_api_version}") == 1
        assert loris.base_path + "/candidates/" in gets and not any("/projects" in g for g in gets)
