"""`neurofetch ls` on every service: one row per file the fetching command then fetches, at the same path,
with the same count and sizes; nothing written but the table; the table's formats."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from neurofetch.errors import UsageError
from tests.catalog_support import assert_rows_match, everything_under, fetched, jsonl_rows
from tests.conftest import every_loris_version
from tests.datamint_support import datamint_server, png_bytes
from tests.datamint_support import env_for as datamint_env
from tests.helpers import run_cli


def ls_rows(*args: object, env: dict[str, str | None]) -> list[dict]:
    result = run_cli("ls", "-f", "jsonl", *map(str, args), env=env)
    assert result.code == 0, result.stderr
    return jsonl_rows(result.stdout)


# ------------------------------------------------------------------------------------------------ LORIS
@every_loris_version
def test_loris_rows_are_what_mirror_fetches_and_ls_touches_nothing(
    loris, loris_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    listing = run_cli("--json", "ls", "-o", "files.tsv", env=loris_env)
    assert listing.code == 0, listing.stderr
    assert everything_under(tmp_path) == {"files.tsv"}  # no DEST, no lock, no journal
    assert not any("/images/" in e.path for e in loris.log.entries())  # listings only: no file, no QC
    rows = list(csv.DictReader(io.StringIO((tmp_path / "files.tsv").read_text()), delimiter="\t"))
    assert listing.json["counts"]["rows"] == len(rows) == len(loris.dataset.expected_tree())
    assert list(rows[0]) == [
        "path",
        "url",
        "size",
        "candid",
        "pscid",
        "site",
        "visit",
        "output_type",
        "acquisition_type",
    ]
    first = rows[0]
    assert first["path"] == f"{first['candid']}/{first['visit']}/{first['url'].rsplit('/', 1)[1]}"
    assert first["pscid"].startswith("CONP") and first["site"] and first["output_type"]

    assert run_cli("mirror", tmp_path / "study", env=loris_env).code == 0
    assert_rows_match([{**r, "size": None} for r in rows], fetched(tmp_path / "study"))


@every_loris_version
def test_loris_levels_and_qc(loris, loris_env) -> None:
    candidates = ls_rows("--level", "candidates", env=loris_env)
    assert [sorted(r) for r in candidates[:1]] == [["candid", "path", "pscid", "site", "url"]]
    assert {r["candid"] for r in candidates} == {p.split("/")[0] for p in loris.dataset.expected_tree()}
    visits = ls_rows("--level", "visits", env=loris_env)
    assert {r["path"] for r in visits} >= {p.rsplit("/", 1)[0] for p in loris.dataset.expected_tree()}
    assert all(r["path"] == f"{r['candid']}/{r['visit']}" for r in visits)  # visits without files too
    qc = ls_rows("--qc", "--candidate", candidates[0]["candid"], env=loris_env)
    assert qc and all("qc" in r for r in qc) and any(r["qc"] == "Pass" for r in qc)
    assert run_cli("ls", "--level", "sessions", env=loris_env).code == 2


@every_loris_version
def test_loris_options_of_another_service_are_refused(loris, loris_env) -> None:
    result = run_cli("ls", "--collection", "3", env=loris_env)
    assert result.code == 2 and "only for neurovault profiles" in result.stderr


@every_loris_version
def test_default_format_off_a_terminal_is_tsv_and_json_needs_a_file(loris, loris_env) -> None:
    result = run_cli("ls", "--visit", "NAPBL00", env=loris_env)
    assert result.code == 0 and result.stdout.startswith("path\turl\tsize\tcandid")
    assert run_cli("--json", "ls", env=loris_env).code == 2


@every_loris_version
def test_parquet_round_trip(loris, loris_env, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    table = tmp_path / "files.parquet"
    assert run_cli("ls", "-o", table, "--visit", "NAPBL00", env=loris_env).code == 0
    import pyarrow.parquet

    rows = pyarrow.parquet.read_table(table).to_pylist()
    assert rows and rows[0]["path"].count("/") == 2
    dest = tmp_path / "study"
    mirrored = run_cli("--json", "mirror", dest, "--from-manifest", table, env=loris_env)
    assert mirrored.code == 0, mirrored.stderr
    assert set(fetched(dest)) == {r["path"] for r in rows}


@every_loris_version
def test_api_ls_streams_rows_and_to_pandas(loris, loris_env, monkeypatch: pytest.MonkeyPatch) -> None:
    from neurofetch import api

    for name, value in loris_env.items():
        monkeypatch.setenv(name, value)
    rows = api.ls(visit=["NAPBL00"])
    listed = list(rows)
    assert listed and all(r["visit"] == "NAPBL00" for r in listed)
    assert rows.result is not None and rows.result.counts["rows"] == len(listed)
    try:
        import pandas
    except ImportError:
        with pytest.raises(UsageError, match="to_pandas needs pandas: pip install pandas"):
            api.to_pandas(rows)
        return
    frame = api.to_pandas(api.ls(visit=["NAPBL00"]))
    assert isinstance(frame, pandas.DataFrame) and list(frame.columns)[:3] == ["path", "url", "size"]
    assert len(frame) == len(listed)


# ------------------------------------------------------------------------------------------- NeuroVault
def test_neurovault_rows_are_what_mirror_fetches(tmp_path: Path) -> None:
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    emulator = NeuroVaultEmulator()
    with emulator.serve() as server:
        env: dict[str, str | None] = {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)}
        cid = str(emulator.collections[0]["id"])
        rows = ls_rows("--collection", cid, env=env)
        assert rows and {r["collection"] for r in rows} == {int(cid)}
        assert all(isinstance(r["image_id"], int) and r["size"] for r in rows)
        assert {"map_type", "modality", "name"} <= set(rows[0])
        assert run_cli("mirror", tmp_path / "nv", "--collection", cid, env=env).code == 0
    assert_rows_match(rows, fetched(tmp_path / "nv"))


# ------------------------------------------------------------------------------------------------ Allen
def test_allen_rows_are_what_atlas_image_fetches(tmp_path: Path) -> None:
    from neurofetch.emulators.allen.app import AllenEmulator

    emulator = AllenEmulator(page_size_cap=50)
    with emulator.serve() as server:
        env: dict[str, str | None] = {"NEUROFETCH_SERVICE": "allen", "NEUROFETCH_URL": emulator.base_url(server)}
        selection = ("--atlas-images", "1", "--downsample", "4", "--annotation", "--svg")
        rows = ls_rows(*selection, env=env)
        assert not any("download" in e.path for e in emulator.log.entries())
        assert rows and all(r["atlas"] == 1 and isinstance(r["section_number"], int) for r in rows)
        assert run_cli("atlas-image", *selection, "--out", tmp_path / "allen", env=env).code == 0
    assert_rows_match(rows, fetched(tmp_path / "allen"))


# --------------------------------------------------------------------------------------------- Datamint
def test_datamint_rows_are_what_mirror_fetches(tmp_path: Path) -> None:
    with datamint_server() as emulator:
        for index in range(3):
            emulator.add_resource(
                f"f{index}.png", png_bytes(), mimetype="image/png", channel="ch1", tags=["train"] if index else []
            )
        env = datamint_env(emulator)
        rows = ls_rows("--channel", "ch1", env=env)
        assert len(rows) == 3 and {r["channel"] for r in rows} == {"ch1"}
        assert {tuple(r["tags"] or ()) for r in rows} == {(), ("train",)}
        assert all(r["mimetype"] == "image/png" and r["status"] and r["uploaded"] for r in rows)
        counted = run_cli("--json", "ls", "--channel", "ch1", "-o", tmp_path / "dm.csv", env=env)
        assert counted.json["counts"] == {"rows": 3} and counted.json["bytes"] == sum(r["size"] for r in rows)
        assert run_cli("mirror", tmp_path / "dm", "--channel", "ch1", env=env).code == 0
    assert_rows_match(rows, fetched(tmp_path / "dm"))
    assert all(r["size"] for r in rows)


def test_table_format_draws_every_row(loris, loris_env) -> None:
    result = run_cli("ls", "-f", "table", "--visit", "NAPBL00", "--candidate", "1345395", env=loris_env)
    assert result.code == 0, result.stderr
    assert {"path", "url", "size"} <= set(" ".join(result.stdout.splitlines()[:3]).split())
    assert "…" not in result.stdout  # folded, never cut short
    assert result.stdout.count("NAPBL00") >= 2 * 12


def test_a_terminal_table_shows_control_characters_from_the_server_as_escapes() -> None:
    """A tag a server sends with an escape sequence must not drive the terminal the table is drawn on."""
    with datamint_server() as emulator:
        emulator.add_resource("f.png", png_bytes(), mimetype="image/png", channel="ch1", tags=["\x1b[2Jwiped"])
        result = run_cli("ls", "-f", "table", "--channel", "ch1", env={**datamint_env(emulator), "COLUMNS": "400"})
    assert result.code == 0, result.stderr
    assert "\x1b[2J" not in result.stdout and "\\x1b[2Jwiped" in result.stdout
