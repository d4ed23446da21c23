"""DEST is created only once the service has answered; a DEST inside another mirror is refused (exit 4);
.part files of items a run did not select are named in its summary and kept."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli, tree_files
from tests.test_mirror_neurovault import neurovault


def test_wrong_password_leaves_no_destination(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "study"
    result = run_cli("mirror", dest, env={**loris_env, "NEUROFETCH_PASSWORD": "wrong"})
    assert result.code == 3, result.stderr
    assert not dest.exists()


def test_wrong_url_leaves_no_destination(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "study"
    result = run_cli("mirror", dest, env={**loris_env, "NEUROFETCH_URL": loris.url + "/nothing-here"})
    assert result.code != 0
    assert not dest.exists(), result.stderr


def test_neurovault_url_that_is_not_the_api_leaves_no_destination(tmp_path: Path) -> None:
    with neurovault() as (_emulator, env):
        dest = tmp_path / "nv"
        result = run_cli(
            "mirror", dest, "--collection", "1", env={**env, "NEUROFETCH_URL": env["NEUROFETCH_URL"] + "/media"}
        )
    assert result.code != 0
    assert not dest.exists(), result.stderr


def test_a_destination_inside_another_mirror_is_refused_with_exit_4(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "twice"
    assert run_cli("mirror", dest, env=loris_env).code == 0
    cand = loris.dataset.candidates[0].cand_id
    before = tree_files(dest)
    loris.log.clear()

    inner = run_cli("mirror", dest / cand, env=loris_env)
    assert inner.code == 4, inner.stderr
    assert str(dest) in inner.stderr and len(inner.stderr.strip().splitlines()) == 1
    assert not (dest / cand / cand).exists() and not (dest / cand / ".neurofetch").exists()
    assert tree_files(dest) == before
    assert loris.log.entries() == []  # refused before asking the service anything

    deeper = run_cli("mirror", dest / "new" / "folder", env=loris_env)
    assert deeper.code == 4 and not (dest / "new").exists()


def test_a_destination_holding_a_mirror_below_it_is_fine(loris, loris_env, tmp_path: Path) -> None:
    assert run_cli("mirror", tmp_path / "outer" / "inner", env=loris_env).code == 0
    result = run_cli("mirror", tmp_path / "outer", env=loris_env)
    assert result.code == 0, result.stderr


def test_partial_downloads_of_unselected_items_are_named_and_kept(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "study"
    first, second = (c.cand_id for c in loris.dataset.candidates[:2])
    assert run_cli("mirror", dest, "--candidate", first, env=loris_env).code == 0
    other = next(p for p in loris.dataset.expected_tree() if p.startswith(f"{second}/"))
    stale = dest / f"{other}.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file")

    result = run_cli("--json", "mirror", dest, "--candidate", first, env=loris_env)
    assert result.code == 0, result.stderr
    assert f"1 partial download of items not selected this run: {other}.part" in result.stderr
    assert result.json["unselected_parts"] == [f"{other}.part"]
    assert stale.read_bytes() == b"half a file"

    everything = run_cli("--json", "mirror", dest, env=loris_env)  # selected again: resumed, not reported
    assert everything.code == 0, everything.stderr
    assert "unselected_parts" not in everything.json and not stale.exists()
    assert tree_files(dest) == loris.dataset.expected_tree()
