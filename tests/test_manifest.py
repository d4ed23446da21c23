"""`--from-manifest FILE`: exactly the rows of a table `ls` wrote, filtered, reordered and re-saved; a row
that is gone fails naming it (exit 1); a table of another service or server, or a broken one, is exit 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.catalog_support import fetched, jsonl_rows
from tests.helpers import run_cli


def loris_rows(env: dict[str, str]) -> list[dict]:
    result = run_cli("ls", "-f", "jsonl", env=env)
    assert result.code == 0, result.stderr
    return jsonl_rows(result.stdout)


def write_csv(path: Path, rows: list[dict]) -> Path:
    columns = list(rows[0])[::-1]  # columns reordered too, as a spreadsheet might
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize("save", [write_csv, write_jsonl], ids=["csv", "jsonl"])
def test_a_filtered_reordered_manifest_fetches_exactly_its_rows(loris, loris_env, tmp_path: Path, save) -> None:
    rows = loris_rows(loris_env)
    two = sorted({r["candid"] for r in rows})[:2]
    kept = [r for r in rows if r["acquisition_type"] in ("t1w", "bold") and r["candid"] in two][::-1]
    assert 0 < len(kept) < len(rows)
    manifest = save(tmp_path / f"chosen.{save.__name__[6:]}", kept)
    dest = tmp_path / "study"
    loris.log.clear()
    result = run_cli("--json", "mirror", dest, "--from-manifest", manifest, env=loris_env)
    assert result.code == 0, result.stderr
    assert set(fetched(dest)) == {r["path"] for r in kept}
    gets = [
        e.path
        for e in loris.log.entries()
        if "/images/" in e.path
        and not e.path.endswith("/qc")
        and e.path.count("/images/")
        and not e.path.endswith("/images")
    ]
    assert len(gets) == len(kept)
    candidates = {r["candid"] for r in kept}
    assert {p.name for p in dest.iterdir() if p.name != ".neurofetch"} == candidates
    listed = {e.path.split("/candidates/")[1].split("/")[0] for e in loris.log.entries() if "/candidates/" in e.path}
    assert listed - {""} == candidates  # the crawl is pruned to the manifest's candidates
    qcs = {p.relative_to(dest).as_posix().removesuffix(".qc.json") for p in dest.rglob("*.qc.json")}
    assert qcs == {r["path"] for r in kept}  # records only beside the chosen files


def test_a_row_no_longer_on_the_server_fails_naming_it(loris, loris_env, tmp_path: Path) -> None:
    rows = loris_rows(loris_env)[:2]
    gone = {**rows[0], "path": rows[0]["path"].rsplit("/", 1)[0] + "/gone.mnc"}
    manifest = write_jsonl(tmp_path / "m.jsonl", [rows[0], gone, rows[1]])
    result = run_cli("--json", "mirror", tmp_path / "dest", "--from-manifest", manifest, env=loris_env)
    assert result.code == 1
    assert result.json["failures"] == [{"item": gone["path"], "error": "row 2 of m.jsonl: no longer on the server"}]
    assert set(fetched(tmp_path / "dest")) == {rows[0]["path"], rows[1]["path"]}


def test_a_table_of_another_server_or_service_is_refused(loris, loris_env, tmp_path: Path) -> None:
    rows = loris_rows(loris_env)[:1]
    moved = write_jsonl(tmp_path / "other.jsonl", [{**rows[0], "url": "https://elsewhere.example/x/y.mnc"}])
    result = run_cli("mirror", tmp_path / "dest", "--from-manifest", moved, env=loris_env)
    assert result.code == 2
    assert "row 1: its url https://elsewhere.example/x/y.mnc is not on this profile's server" in result.stderr
    neurovault = write_jsonl(
        tmp_path / "nv.jsonl", [{"path": "collection-1/a.nii.gz", "url": None, "collection": 1, "image_id": 5}]
    )
    result = run_cli("mirror", tmp_path / "dest", "--from-manifest", neurovault, env=loris_env)
    assert result.code == 2 and "is not a loris table (no 'candid' column)" in result.stderr
    assert not (tmp_path / "dest").exists()


def test_a_malformed_table_names_line_and_column(loris, loris_env, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("path,url,candid\n1/V1/a.mnc,,1\n1/V1/b.mnc,,1,extra\n")
    result = run_cli("mirror", tmp_path / "dest", "--from-manifest", broken, env=loris_env)
    assert result.code == 2 and "broken.csv, line 3: 4 columns where the header has 3" in result.stderr
    empty_path = tmp_path / "empty.jsonl"
    empty_path.write_text('{"path": "", "candid": "1"}\n')
    result = run_cli("mirror", tmp_path / "dest", "--from-manifest", empty_path, env=loris_env)
    assert result.code == 2 and "row 1, column path: empty" in result.stderr
    not_json = tmp_path / "bad.jsonl"
    not_json.write_text('{"path": "1/V1/a.mnc", "candid": "1"}\n{"path": \n')
    result = run_cli("mirror", tmp_path / "dest", "--from-manifest", not_json, env=loris_env)
    assert result.code == 2 and "bad.jsonl, line 2 column" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_atlas_image_from_manifest(tmp_path: Path) -> None:
    from neurofetch.emulators.allen.app import AllenEmulator

    emulator = AllenEmulator(page_size_cap=50)
    with emulator.serve() as server:
        env = {"NEUROFETCH_SERVICE": "allen", "NEUROFETCH_URL": emulator.base_url(server)}
        selection = ("--atlas-images", "1", "--downsample", "4")
        listing = run_cli("ls", "-f", "jsonl", *selection, env=env)
        rows = jsonl_rows(listing.stdout)[::7]
        manifest = write_csv(tmp_path / "plates.csv", rows)
        result = run_cli("atlas-image", *selection, "--out", tmp_path / "out", "--from-manifest", manifest, env=env)
        assert result.code == 0, result.stderr
    assert set(fetched(tmp_path / "out")) == {r["path"] for r in rows}
