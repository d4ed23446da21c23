"""`neurofetch mirror` against the NeuroVault emulator: collections by id and DOI, paging, filters, re-runs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from neurofetch.emulators.common import Faults
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from neurofetch.services.neurovault import gzip_body
from tests.helpers import run_cli, tree_files

DOI = "10.1016/j.neurobiolaging.2012.11.002"


@contextmanager
def neurovault(**kwargs: Any) -> Iterator[tuple[NeuroVaultEmulator, dict[str, str]]]:
    """An emulator on loopback and the environment of an ad-hoc neurovault profile pointing at it."""
    emulator = NeuroVaultEmulator(**kwargs)
    with emulator.serve() as server:
        yield emulator, {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)}


def file_name(image: dict[str, Any]) -> str:
    return unquote(urlsplit(image["file"]).path.rsplit("/", 1)[-1])


def expected_tree(emulator: NeuroVaultEmulator, cid: int, keep: Any = lambda image: True) -> dict[str, bytes]:
    return {f"collection-{cid}/{file_name(i)}": emulator.file_bytes(i) for i in emulator.images(cid) if keep(i)}


def collection(emulator: NeuroVaultEmulator, role: str) -> dict[str, Any]:
    if role == "doi":
        return next(c for c in emulator.collections if c["DOI"] == DOI)
    if role == "large":
        return max(emulator.collections, key=lambda c: len(emulator.images(c["id"])))
    return emulator.collections[2]  # the quirky one: spaces, %, non-ASCII, http:// URLs, a lost upload


def file_gets(emulator: NeuroVaultEmulator) -> list[str]:
    return [e.path for e in emulator.log.entries() if e.method == "GET" and e.path.startswith("/media/")]


# ------------------------------------------------------------------------------------------ by DOI


@pytest.mark.parametrize("ignore_filters", [False, True], ids=["filter-honoured", "filter-ignored"])
def test_doi_mirror_is_exactly_that_collection_byte_exact_and_loadable(ignore_filters: bool, tmp_path: Path) -> None:
    nibabel = pytest.importorskip("nibabel")
    with neurovault(ignore_filters=ignore_filters) as (emulator, env):
        dest = tmp_path / "nv"
        result = run_cli("--json", "mirror", dest, "--doi", DOI, env=env)
        assert result.code == 0, result.stderr
        wanted = collection(emulator, "doi")
        expected = expected_tree(emulator, wanted["id"])
        assert tree_files(dest) == expected and len(expected) == 5
        assert result.json["collections"] == [wanted["id"]]
        assert result.json["counts"]["downloaded"] == len(expected)
        assert result.json["bytes"] == sum(map(len, expected.values()))
        for relpath in expected:
            volume = nibabel.load(dest / relpath)
            assert len(volume.shape) >= 3 and volume.get_fdata().size > 0
        folder = dest / f"collection-{wanted['id']}"
        assert json.loads((folder / "collection.json").read_text()) == wanted
        for image in emulator.images(wanted["id"]):
            assert json.loads((folder / f"{file_name(image)}.json").read_text()) == image


def test_doi_is_matched_case_insensitively_and_accepted_as_a_link(tmp_path: Path) -> None:
    with neurovault(ignore_filters=True) as (emulator, env):
        result = run_cli("--json", "mirror", tmp_path / "nv", "--doi", f"https://doi.org/{DOI.upper()}", env=env)
        assert result.code == 0, result.stderr
        assert result.json["collections"] == [collection(emulator, "doi")["id"]]


def test_server_ignoring_the_doi_filter_on_a_big_site_stops_with_one_clear_line(tmp_path: Path) -> None:
    with neurovault(ignore_filters=True, page_size=1) as (emulator, env):
        dest = tmp_path / "nv"
        result = run_cli("mirror", dest, "--doi", DOI, env=env)
        assert result.code == 5
        assert len(result.stderr.strip().splitlines()) == 1
        assert "ignored the DOI filter" in result.stderr and "crawling the whole site" in result.stderr
        assert f"--collection {collection(emulator, 'doi')['id']}" in result.stderr
        assert emulator.log.count(lambda e: e.path == "/api/collections/") == 5
        assert tree_files(dest) == {}


def test_doi_without_a_collection_is_a_warning_and_the_rest_completes(tmp_path: Path) -> None:
    with neurovault() as (emulator, env):
        doi_collection = collection(emulator, "doi")["id"]
        result = run_cli(
            "--json",
            "mirror",
            tmp_path / "nv",
            "--doi",
            "10.9999/nothing.here",
            "--collection",
            str(doi_collection),
            env=env,
        )
        assert result.code == 0, result.stderr
        assert result.json["failures"] == []
        assert result.json["warnings"] == ["--doi 10.9999/nothing.here matched nothing"]
        assert tree_files(tmp_path / "nv") == expected_tree(emulator, doi_collection)


# ------------------------------------------------------------------------------------------ by id


def test_collection_with_more_images_than_one_page(tmp_path: Path) -> None:
    with neurovault(page_size=10) as (emulator, env):
        big = collection(emulator, "large")["id"]
        result = run_cli("mirror", tmp_path / "nv", "--collection", str(big), env=env)
        assert result.code == 0, result.stderr
        expected = expected_tree(emulator, big)
        assert len(expected) > 10 and tree_files(tmp_path / "nv") == expected
        pages = [e.query for e in emulator.log.entries() if e.path == f"/api/collections/{big}/images/"]
        assert pages == ["", "limit=10&offset=10"]


def test_same_collection_by_id_twice_and_by_doi_is_fetched_once(tmp_path: Path) -> None:
    with neurovault(shuffle=True) as (emulator, env):
        cid = str(collection(emulator, "doi")["id"])
        result = run_cli(
            "--json", "mirror", tmp_path / "nv", "--collection", cid, "--collection", cid, "--doi", DOI, env=env
        )
        assert result.code == 0, result.stderr
        assert result.json["collections"] == [int(cid)]
        assert emulator.log.count(lambda e: e.path == f"/api/collections/{cid}/images/") == 1
        assert len(file_gets(emulator)) == 5


def test_rerun_downloads_nothing(tmp_path: Path) -> None:
    with neurovault(page_size=10) as (emulator, env):
        ids = [str(collection(emulator, role)["id"]) for role in ("doi", "large")]
        args = ("--json", "mirror", tmp_path / "nv", "--collection", ids[0], "--collection", ids[1])
        first = run_cli(*args, env=env)
        assert first.code == 0, first.stderr
        emulator.log.clear()
        second = run_cli(*args, env=env)
        assert second.code == 0, second.stderr
        assert file_gets(emulator) == []
        assert second.json["counts"] == {"skipped": first.json["counts"]["downloaded"]}


def test_quirky_names_and_http_links_are_stored_as_served(tmp_path: Path) -> None:
    with neurovault() as (emulator, env):
        quirky = collection(emulator, "quirky")["id"]
        result = run_cli("mirror", tmp_path / "nv", "--collection", str(quirky), env=env)
        assert result.code == 0, result.stderr
        got = tree_files(tmp_path / "nv")
        assert got == expected_tree(emulator, quirky)
        assert {
            f"collection-{quirky}/{n}"
            for n in ("con 0002 (left hand).nii.gz", "100%_overlap.nii.gz", "café_β-map.nii.gz", "zstat1_2.nii.gz")
        } <= set(got)


def test_gzip_content_encoding_is_not_decoded(tmp_path: Path) -> None:
    with neurovault(file_encoding="gzip", collections=1) as (emulator, env):
        cid = emulator.collections[0]["id"]
        result = run_cli("mirror", tmp_path / "nv", "--collection", str(cid), env=env)
        assert result.code == 0, result.stderr
        assert tree_files(tmp_path / "nv") == expected_tree(emulator, cid)


def test_missing_file_is_a_failure_and_the_rest_completes(tmp_path: Path) -> None:
    with neurovault(missing_file=True) as (emulator, env):
        quirky = collection(emulator, "quirky")["id"]
        dest = tmp_path / "nv"
        result = run_cli("--json", "mirror", dest, "--collection", str(quirky), env=env)
        assert result.code == 1
        assert result.json["status"] == "partial"
        [failure] = result.json["failures"]
        assert failure["item"] == f"collection-{quirky}/lost_upload.nii.gz" and "404" in failure["error"]
        expected = expected_tree(emulator, quirky, keep=lambda i: i["file_size"] > 0)
        assert tree_files(dest) == expected and len(expected) == len(emulator.images(quirky)) - 1
        assert not list(dest.rglob("*.part"))


def test_unknown_collection_is_a_warning_and_the_rest_completes(tmp_path: Path) -> None:
    with neurovault() as (emulator, env):
        doi_collection = collection(emulator, "doi")["id"]
        result = run_cli(
            "mirror", tmp_path / "nv", "--collection", "99999", "--collection", str(doi_collection), env=env
        )
        assert result.code == 0, result.stderr
        assert "neurofetch: warning: --collection 99999 matched nothing" in result.stderr
        assert tree_files(tmp_path / "nv") == expected_tree(emulator, doi_collection)


def test_private_collection_is_a_failure_not_a_login_problem(tmp_path: Path) -> None:
    with neurovault(collections=1) as (emulator, env):
        private, public = emulator.private_collection["id"], emulator.collections[0]["id"]
        result = run_cli(
            "--json", "mirror", tmp_path / "nv", "--collection", str(private), "--collection", str(public), env=env
        )
        assert result.code == 1
        assert result.json["failures"] == [
            {
                "item": f"collection {private}",
                "error": f"collection {private} is private: NeuroVault refused access (HTTP 403)",
            }
        ]
        assert tree_files(tmp_path / "nv") == expected_tree(emulator, public)


def test_hostile_file_names_fail_and_nothing_leaves_the_destination(tmp_path: Path) -> None:
    with neurovault(faults=Faults(hostile_names=True), collections=3) as (emulator, env):
        quirky = collection(emulator, "quirky")["id"]
        dest = tmp_path / "inside" / "nv"
        result = run_cli("--json", "mirror", dest, "--collection", str(quirky), env=env)
        assert result.code == 1
        unsafe = {"..\\..\\escape.nii.gz", "CON.nii.gz", "\x1b[31mred.nii.gz"}
        assert len(result.json["failures"]) == len(unsafe)
        assert "\x1b" not in result.stderr
        expected = expected_tree(emulator, quirky, keep=lambda i: file_name(i) not in unsafe)
        assert tree_files(dest) == expected
        assert [p.name for p in (tmp_path / "inside").iterdir()] == ["nv"]


# ------------------------------------------------------------------------------------------ filters


def bold_z_or_t(image: dict[str, Any]) -> bool:
    return image.get("map_type") in ("Z map", "T map") and image.get("modality") == "fMRI-BOLD"


def subjects_1_2_without_betas(image: dict[str, Any]) -> bool:
    return file_name(image).startswith(("sub-01_", "sub-02_")) and not file_name(image).endswith("_beta.nii.gz")


def test_map_type_and_modality_filters(tmp_path: Path) -> None:
    with neurovault() as (emulator, env):
        ids = [str(c["id"]) for c in emulator.collections]
        result = run_cli(
            "mirror",
            tmp_path / "nv",
            *[a for cid in ids for a in ("--collection", cid)],
            "--map-type",
            "z map",
            "--map-type",
            "T map",
            "--modality",
            "fMRI-BOLD",
            env=env,
        )
        assert result.code == 0, result.stderr
        expected = {k: v for c in ids for k, v in expected_tree(emulator, int(c), bold_z_or_t).items()}
        assert expected and tree_files(tmp_path / "nv") == expected
        assert not list((tmp_path / "nv").glob("*/*_beta.nii.gz.json"))


def test_include_and_exclude_on_file_names(tmp_path: Path) -> None:
    with neurovault(page_size=10) as (emulator, env):
        big = collection(emulator, "large")["id"]
        result = run_cli(
            "mirror",
            tmp_path / "nv",
            "--collection",
            str(big),
            "--include",
            "sub-0[12]_*",
            "--exclude",
            "*_beta.nii.gz",
            env=env,
        )
        assert result.code == 0, result.stderr
        expected = expected_tree(emulator, big, subjects_1_2_without_betas)
        assert expected and tree_files(tmp_path / "nv") == expected


def test_dry_run_changes_nothing_and_lists_the_files(tmp_path: Path) -> None:
    with neurovault() as (emulator, env):
        dest = tmp_path / "dry"
        result = run_cli("--json", "mirror", dest, "--doi", DOI, "--dry-run", env=env)
        assert result.code == 0, result.stderr
        assert not dest.exists() and file_gets(emulator) == []
        planned = {p["path"] for p in result.json["planned"] if p["action"] == "download"}
        assert planned == set(expected_tree(emulator, collection(emulator, "doi")["id"]))


def test_shards_split_collections_between_runs(tmp_path: Path) -> None:
    with neurovault(page_size=10) as (emulator, env):
        ids = [str(c["id"]) for c in emulator.collections]
        args = [a for cid in ids for a in ("--collection", cid)]
        dest = tmp_path / "nv"
        for shard in ("1/2", "2/2"):
            result = run_cli("--json", "mirror", dest, *args, "--shard", shard, "--jobs", "2", env=env)
            assert result.code == 0, result.stderr
            assert 0 < len(result.json["collections"]) < len(ids)
        expected = {k: v for c in ids for k, v in expected_tree(emulator, int(c)).items()}
        assert tree_files(dest) == expected


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("service", "args", "message"),
    [
        ("neurovault", ("--collection", "1", "--candidate", "123"), "--candidate: only for loris profiles"),
        ("neurovault", ("--doi", DOI, "--no-qc"), "--no-qc: only for loris profiles"),
        ("loris", ("--doi", DOI, "--map-type", "Z map"), "--doi, --map-type: only for neurovault profiles"),
        ("neurovault", (), "--collection ID or --doi DOI"),
        ("neurovault", ("--collection", "abc"), "--collection takes a NeuroVault collection id"),
        ("neurovault", ("--doi", "j.neuroimage.2020"), "--doi takes a DOI"),
    ],
)
def test_usage_errors_are_one_line_exit_2(service: str, args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    env = {"NEUROFETCH_SERVICE": service, "NEUROFETCH_URL": "http://127.0.0.1:9"}
    result = run_cli("mirror", tmp_path / "nv", *args, env=env)
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nv").exists()


def test_unreachable_service_exits_5(tmp_path: Path) -> None:
    env = {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": "http://127.0.0.1:9", "NEUROFETCH_RETRIES": "1"}
    result = run_cli("mirror", tmp_path / "nv", "--collection", "1", env=env)
    assert result.code == 5
    assert "NeuroVault API at http://127.0.0.1:9/api/" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_gzip_check_refuses_a_body_that_is_not_gzip() -> None:
    assert gzip_body(b"\x1f\x8b\x08\x00", "application/octet-stream") is None
    assert gzip_body(b"\x1f", "application/octet-stream") is None  # first chunk of one byte
    assert "not gzip" in (gzip_body(b"\x5c\x01\x00\x00", "application/octet-stream") or "")
    assert "empty" in (gzip_body(b"", "application/octet-stream") or "")


# ------------------------------------------------------------------------------------------ over TLS


def tls_profile(tmp_path: Path, url: str, ca: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_profile: nv\nprofiles:\n  nv:\n    service: neurovault\n    url: {url}\n    verify_tls: {ca}\n"
    )
    return config


def test_http_links_of_an_https_server_are_fetched_over_https(tls_files: Any, tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator()
    with emulator.serve(tls=tls_files[0]) as server:
        quirky = collection(emulator, "quirky")
        http_files = [i["file"] for i in emulator.images(quirky["id"]) if i["file"].startswith("http://")]
        config = tls_profile(tmp_path, emulator.base_url(server), tls_files[1])
        result = run_cli("--config", config, "mirror", tmp_path / "nv", "--collection", str(quirky["id"]))
    assert http_files  # the collection has records whose links say http://
    assert result.code == 0, result.stderr
    assert tree_files(tmp_path / "nv") == expected_tree(emulator, quirky["id"])


def test_next_links_in_the_other_scheme_are_followed(tls_files: Any, tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator(page_size=2, http_links=True)
    with emulator.serve(tls=tls_files[0]) as server:
        big = collection(emulator, "large")
        config = tls_profile(tmp_path, emulator.base_url(server), tls_files[1])
        result = run_cli("--config", config, "mirror", tmp_path / "nv", "--collection", str(big["id"]))
        pages = [e.query for e in emulator.log.entries() if e.path == f"/api/collections/{big['id']}/images/"]
    assert result.code == 0, result.stderr
    assert tree_files(tmp_path / "nv") == expected_tree(emulator, big["id"])
    assert len(pages) == math.ceil(len(emulator.images(big["id"])) / 2)
