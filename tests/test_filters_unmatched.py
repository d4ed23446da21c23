"""Filters that match nothing end with a warning naming them (exit 0); --include/--exclude match the path
under DEST as well as the file name, the same way for every service."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.datamint_support import datamint_server, env_for, png_bytes
from tests.helpers import run_cli, tree_files
from tests.test_mirror_neurovault import collection, neurovault


def test_loris_unknown_candidate_and_visit_warn_and_exit_0(loris, loris_env, tmp_path: Path) -> None:
    cand = loris.dataset.candidates[0].cand_id
    result = run_cli(
        "--json",
        "mirror",
        tmp_path / "s",
        "--candidate",
        cand,
        "--candidate",
        "999999",
        "--visit",
        "V99",
        env=loris_env,
    )
    assert result.code == 0, result.stderr
    assert "neurofetch: warning: --candidate 999999 matched nothing" in result.stderr
    assert "neurofetch: warning: --visit V99 matched nothing" in result.stderr
    assert f"--candidate {cand} matched" not in result.stderr
    assert result.json["warnings"] == ["--candidate 999999 matched nothing", "--visit V99 matched nothing"]
    assert result.json["failures"] == []


def test_loris_include_matches_the_path_under_dest(loris, loris_env, tmp_path: Path) -> None:
    cand = loris.dataset.candidates[1].cand_id
    dest = tmp_path / "s"
    result = run_cli("mirror", dest, "--include", f"{cand}/*", "--no-qc", env=loris_env)
    assert result.code == 0, result.stderr
    expected = {path for path in loris.dataset.expected_tree() if path.startswith(f"{cand}/")}
    assert expected and set(tree_files(dest)) == expected
    assert "warning" not in result.stderr


def test_loris_include_and_exclude_that_leave_nothing(loris, loris_env, tmp_path: Path) -> None:
    nothing = run_cli("--json", "mirror", tmp_path / "a", "--include", "*.nothing", env=loris_env)
    assert nothing.code == 0, nothing.stderr
    assert "neurofetch: warning: --include '*.nothing' matched nothing" in nothing.stderr
    assert nothing.json["warnings"] == ["--include '*.nothing' matched nothing"]

    everything = run_cli("mirror", tmp_path / "b", "--exclude", "*", env=loris_env)
    assert everything.code == 0, everything.stderr
    assert "neurofetch: warning: --exclude '*' left out every file" in everything.stderr


def test_neurovault_unmatched_filters_warn(tmp_path: Path) -> None:
    with neurovault(collections=2) as (emulator, env):
        cid = str(collection(emulator, "large")["id"])
        result = run_cli(
            "--json",
            "mirror",
            tmp_path / "nv",
            "--collection",
            cid,
            "--collection",
            "999999",
            "--map-type",
            "Z map",
            "--map-type",
            "no such map",
            "--modality",
            "telepathy",
            env=env,
        )
        assert result.code == 0, result.stderr
        assert result.json["warnings"] == [
            "--collection 999999 matched nothing",
            "--map-type 'no such map' matched nothing",
            "--modality telepathy matched nothing",
        ]
        assert "neurofetch: warning: --modality telepathy matched nothing" in result.stderr


def test_neurovault_include_matches_the_path_under_dest(tmp_path: Path) -> None:
    with neurovault(collections=2) as (emulator, env):
        cid, other = (c["id"] for c in emulator.collections[:2])
        dest = tmp_path / "nv"
        result = run_cli(
            "mirror",
            dest,
            "--collection",
            str(cid),
            "--collection",
            str(other),
            "--include",
            f"collection-{cid}/*",
            env=env,
        )
        assert result.code == 0, result.stderr
        files = set(tree_files(dest))
        assert files and all(path.startswith(f"collection-{cid}/") for path in files)


def test_datamint_unmatched_filters_warn_and_include_matches_the_channel(tmp_path: Path) -> None:
    with datamint_server() as datamint:
        a = datamint.add_resource("a.png", png_bytes(), mimetype="image/png", channel="c1", tags=["left"])
        datamint.add_resource("b.png", png_bytes(), mimetype="image/png", channel="c2", tags=["right"])
        env = env_for(datamint)
        nothing = run_cli("--json", "mirror", tmp_path / uuid.uuid4().hex, "--channel", "c9", env=env)
        assert nothing.code == 0, nothing.stderr
        assert nothing.json["warnings"] == ["--channel c9 matched nothing"]

        tags = run_cli("--json", "mirror", tmp_path / uuid.uuid4().hex, "--tag", "left", "--tag", "up", env=env)
        assert tags.code == 0, tags.stderr
        assert tags.json["warnings"] == ["--tag up matched nothing"]

        dest = tmp_path / uuid.uuid4().hex
        by_path = run_cli("--json", "mirror", dest, "--include", "c1/*", env=env)
        assert by_path.code == 0, by_path.stderr
        assert set(tree_files(dest)) == {f"c1/{a.id}_a.png"}
        assert "warnings" not in by_path.json


def test_upload_include_matches_the_path_below_the_folder(tmp_path: Path) -> None:
    study = tmp_path / "study"
    for subject in ("sub-01", "sub-02"):
        (study / subject).mkdir(parents=True)
        (study / subject / "photo.png").write_bytes(png_bytes())
    with datamint_server() as datamint:
        result = run_cli("--json", "upload", study, "--recursive", "--include", "sub-01/*", env=env_for(datamint))
        assert result.code == 0, result.stderr
        assert [r.source_filepath for r in datamint.resources()] == ["study/sub-01/photo.png"]


def test_upload_include_or_exclude_that_leave_nothing_warn(tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "photo.png").write_bytes(png_bytes())
    with datamint_server() as datamint:
        nothing = run_cli("--json", "upload", study, "--include", "*.nothing", env=env_for(datamint))
        everything = run_cli("--json", "upload", study, "--exclude", "*.png", env=env_for(datamint))
        assert datamint.resources() == []
    assert nothing.code == 0 and nothing.json["warnings"] == ["--include '*.nothing' matched nothing"]
    assert everything.code == 0 and everything.json["warnings"] == ["--exclude '*.png' left out every file (1 file)"]
