"""Contract of the NeuroVault emulator against reference/neurovault.md (§2 paging, §3 filters, §5 files, §8)."""

from __future__ import annotations

import gzip
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neurofetch.emulators.common import Faults, RunningServer
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator, paginate
from neurofetch.emulators.neurovault.data import DOI_OF_AGING_COLLECTION, NeuroVaultData

DOI = "10.1016/j.neurobiolaging.2012.11.002"


class Api:
    def __init__(self, emulator: NeuroVaultEmulator, server: RunningServer) -> None:
        self.emulator = emulator
        self.origin = server.origin
        self.client = httpx.Client(base_url=server.origin, timeout=10)

    def json(self, url: str, **params: Any) -> Any:
        response = self.client.get(url, params=params or None)
        assert response.status_code == 200, (url, response.status_code, response.text)
        return response.json()

    def pages(self, url: str) -> list[dict[str, Any]]:
        """Follow ``next`` links like a client would; returns every page."""
        pages = []
        next_url: str | None = url
        while next_url:
            pages.append(self.json(next_url))
            next_url = pages[-1]["next"]
        return pages

    def raw_file(self, url: str, **headers: str) -> tuple[httpx.Response, bytes]:
        with self.client.stream("GET", url, headers=headers) as response:
            return response, b"".join(response.iter_raw())


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    emulator = NeuroVaultEmulator()
    with emulator.serve() as server:
        yield Api(emulator, server)


def serve(**kwargs: Any) -> tuple[NeuroVaultEmulator, RunningServer, Api]:
    emulator = NeuroVaultEmulator(**kwargs)
    server = emulator.serve()
    return emulator, server, Api(emulator, server)


def large_collection(emulator: NeuroVaultEmulator) -> dict[str, Any]:
    return max(emulator.collections, key=lambda c: len(emulator.images(c["id"])))


# ------------------------------------------------------------------------------------------------ data


def test_dataset_is_deterministic_and_realistic() -> None:
    first, again, other = NeuroVaultEmulator(), NeuroVaultEmulator(), NeuroVaultEmulator(seed=1)
    assert first.collections == again.collections
    assert first.collections != other.collections
    image = first.images(first.collections[0]["id"])[0]
    assert first.file_bytes(image) == again.file_bytes(image["id"])
    assert len(first.collections) == 6
    dois = [c["DOI"] for c in first.collections]
    assert DOI in dois and DOI == DOI_OF_AGING_COLLECTION
    for key in (
        "id",
        "url",
        "download_url",
        "name",
        "DOI",
        "owner",
        "owner_name",
        "add_date",
        "modify_date",
        "number_of_images",
        "private",
        "scanner_make",
        "field_strength",
        "type_of_design",
    ):
        assert key in first.collections[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first.collections[0]["add_date"])
    assert len(first.images(large_collection(first)["id"])) > 100


def test_number_of_images_can_exceed_the_images_count() -> None:
    emulator = NeuroVaultEmulator()
    assert any(c["number_of_images"] > len(emulator.images(c["id"])) for c in emulator.collections)


# ---------------------------------------------------------------------------------------------- paging


def test_collections_paging_follows_next_links(api: Api) -> None:
    pages = api.pages("/api/collections/?limit=2")
    assert [len(p["results"]) for p in pages] == [2, 2, 2]
    assert pages[0]["count"] == 6 and pages[0]["previous"] is None
    assert pages[0]["next"] == f"{api.origin}/api/collections/?limit=2&offset=2"
    assert pages[1]["previous"] == f"{api.origin}/api/collections/?limit=2"  # offset removed, DRF-style
    assert pages[2]["previous"] == f"{api.origin}/api/collections/?limit=2&offset=2"
    ids = [c["id"] for p in pages for c in p["results"]]
    assert ids == [c["id"] for c in api.emulator.collections]


def test_collection_images_span_two_pages_in_id_order(api: Api) -> None:
    cid = large_collection(api.emulator)["id"]
    pages = api.pages(f"/api/collections/{cid}/images/")
    assert len(pages) == 2 and len(pages[0]["results"]) == 100
    assert pages[0]["next"] == f"{api.origin}/api/collections/{cid}/images/?limit=100&offset=100"
    assert pages[1]["previous"] == f"{api.origin}/api/collections/{cid}/images/?limit=100"
    ids = [i["id"] for p in pages for i in p["results"]]
    assert ids == sorted(ids) == [i["id"] for i in api.emulator.images(cid)]
    assert pages[0]["count"] == len(ids)


@pytest.mark.parametrize(
    ("query", "limit", "offset"),
    [
        ({"limit": "5000"}, 1000, 0),
        ({"limit": "0"}, 100, 0),
        ({"limit": "-3"}, 100, 0),
        ({"limit": "x"}, 100, 0),
        ({"offset": "-1"}, 100, 0),
        ({"offset": "bad"}, 100, 0),
        ({"limit": "10", "offset": "20"}, 10, 20),
    ],
)
def test_limit_and_offset_follow_drf_rules(query: dict[str, str], limit: int, offset: int) -> None:
    page = paginate(list(range(3000)), query, "http://h/api/images/?format=json")
    assert page["results"][0] == offset and len(page["results"]) == limit
    assert page["next"] == f"http://h/api/images/?format=json&limit={limit}&offset={offset + limit}"


def test_offset_past_the_end_gives_empty_results(api: Api) -> None:
    page = api.json("/api/collections/", offset="50")
    assert page["results"] == [] and page["count"] == 6 and page["next"] is None


def test_images_list_covers_every_public_image(api: Api) -> None:
    pages = api.pages("/api/images/?limit=1000")
    listed = {i["id"] for p in pages for i in p["results"]}
    expected = {i["id"] for c in api.emulator.collections for i in api.emulator.images(c["id"])}
    assert listed == expected


def test_shuffle_reorders_top_level_lists_between_calls() -> None:
    _, server, api = serve(shuffle=True)
    with server:
        orders = [[c["id"] for c in api.json("/api/collections/")["results"]] for _ in range(4)]
    assert len({tuple(o) for o in orders}) > 1
    assert all(sorted(o) == sorted(orders[0]) for o in orders)


# --------------------------------------------------------------------------------------------- filters


def test_doi_filter_is_honoured_by_default(api: Api) -> None:
    page = api.json("/api/collections/", DOI=DOI)
    assert page["count"] == 1 and page["next"] is None
    assert page["results"][0]["DOI"] == DOI
    assert api.json("/api/collections/", DOI="10.9999/nothing")["count"] == 0


def test_doi_filter_can_be_ignored_like_the_real_server_may() -> None:
    _, server, api = serve(ignore_filters=True, page_size=4)
    with server:
        pages = api.pages(f"/api/collections/?DOI={DOI}")
    assert pages[0]["count"] == 6  # every collection: the client must re-check DOI on each record
    assert pages[0]["next"] == f"{api.origin}/api/collections/?DOI={DOI.replace('/', '%2F')}&limit=4&offset=4"
    assert [c["DOI"] for p in pages for c in p["results"]].count(DOI) == 1


def test_name_and_owner_filters(api: Api) -> None:
    target = api.emulator.collections[3]
    assert [c["id"] for c in api.json("/api/collections/", name=target["name"])["results"]] == [target["id"]]
    owned = api.json("/api/collections/", owner=str(target["owner"]))["results"]
    assert target["id"] in [c["id"] for c in owned] and {c["owner"] for c in owned} == {target["owner"]}
    response = api.client.get("/api/collections/", params={"owner": "nobody"})
    assert response.status_code == 400 and "owner" in response.json()


# ------------------------------------------------------------------------------------ details, errors


def test_detail_is_a_bare_object_and_missing_slash_redirects(api: Api) -> None:
    collection = api.emulator.collections[0]
    response = api.client.get(f"/api/collections/{collection['id']}?format=json")
    assert response.status_code == 301
    assert response.headers["location"] == f"/api/collections/{collection['id']}/?format=json"
    assert api.client.get(f"/api/collections/{collection['id']}", follow_redirects=True).json() == collection
    assert api.json(f"/api/collections/{collection['id']}.json") == collection
    image = api.emulator.images(collection["id"])[0]
    assert api.json(f"/api/images/{image['id']}/") == image


@pytest.mark.parametrize("path", ["/api/collections/99999/", "/api/images/99999999/", "/api/collections/abc/"])
def test_unknown_ids_are_drf_404(api: Api, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_unknown_paths_are_django_html_404(api: Api) -> None:
    response = api.client.get("/api/nothing/here/")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")


def test_private_collection_needs_its_token(api: Api) -> None:
    private = api.emulator.private_collection
    token = api.emulator.private_token
    response = api.client.get(f"/api/collections/{private['id']}/")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    assert api.json(f"/api/collections/{token}/")["private"] is True
    image = api.json(f"/api/collections/{token}/images/")["results"][0]
    assert api.client.get(f"/api/images/{image['id']}/").status_code == 403
    assert api.json(f"/api/images/{token}-{image['id']}/")["id"] == image["id"]
    assert f"/media/images/{token}/" in image["file"]
    assert api.raw_file(image["file"])[0].status_code == 200
    assert private["id"] not in {c["id"] for c in api.json("/api/collections/")["results"]}


def test_browser_accept_gets_html_and_gzip_accept_gets_gzipped_json(api: Api) -> None:
    assert api.client.get("/api/", headers={"accept": "text/html"}).headers["content-type"].startswith("text/html")
    response = api.client.get("/api/collections/", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip" and response.json()["count"] == 6


# ---------------------------------------------------------------------------------------------- records


def test_image_records_carry_what_a_client_filters_on(api: Api) -> None:
    images = [i for c in api.emulator.collections for i in api.emulator.images(c["id"])]
    for image in images:
        assert image["file"].startswith(f"{api.origin}/media/images/{image['collection_id']}/")
        assert image["file_size"] == len(api.emulator.file_bytes(image))
        assert image["image_type"] in ("statistic_map", "atlas", "NIDM results statistic map")
        if image["image_type"] != "atlas":
            assert image["map_type"] and image["modality"]
    assert {"Z map", "T map", "ROI/mask", "parcellation"} <= {i.get("map_type") for i in images}
    assert {"fMRI-BOLD", "Structural MRI"} <= {i.get("modality") for i in images}
    assert any("label_description_file" in i for i in images)
    assert any("custom_threshold" in i for i in images)  # keys of the free-form data JSON
    assert any(i["cognitive_paradigm_cogatlas"] == "None / Other" for i in images if "map_type" in i)


def test_quirky_file_names_are_quoted_and_downloadable(api: Api) -> None:
    images = [i for c in api.emulator.collections for i in api.emulator.images(c["id"])]
    files = [i["file"] for i in images]
    assert any("%20" in f for f in files) and any("%25" in f for f in files)
    assert any(f.endswith("/zstat1_2.nii.gz") for f in files)
    for image in images:
        if "%" in image["file"]:
            response, body = api.raw_file(image["file"])
            assert response.status_code == 200 and body == api.emulator.file_bytes(image)


# ------------------------------------------------------------------------------------------------ files


def test_file_is_a_gzip_nifti1_that_nibabel_loads(api: Api, tmp_path: Path) -> None:
    image = api.emulator.images(api.emulator.collections[0]["id"])[0]
    response, body = api.raw_file(image["file"])
    assert response.status_code == 200
    assert body == api.emulator.file_bytes(image) and body[:2] == b"\x1f\x8b"
    assert int(response.headers["content-length"]) == len(body) == image["file_size"]
    assert struct.unpack("<i", gzip.decompress(body)[:4])[0] == 348
    nibabel = pytest.importorskip("nibabel")
    path = tmp_path / f"image_{image['id']}.nii.gz"
    path.write_bytes(body)
    volume = nibabel.load(path)
    assert len(volume.shape) >= 3 and volume.get_fdata().size > 0
    assert volume.header["sizeof_hdr"] == 348 and volume.affine[0, 3] == -90


def test_realistic_sizes_are_mni_grids_of_a_neurovault_map_size_with_the_same_records() -> None:
    nibabel = pytest.importorskip("nibabel")
    tiny, real = NeuroVaultData(collections=1), NeuroVaultData(collections=1, realistic_sizes=True)
    assert [i.record for i in tiny.collections[0].images] == [i.record for i in real.collections[0].images]
    for image in real.collections[0].images:
        volume = nibabel.Nifti1Image.from_bytes(gzip.decompress(real.file_bytes(image)))
        assert volume.shape[:3] in {(91, 109, 91), (61, 73, 61), (53, 63, 46)}
        if image.record["map_type"] in ("Z map", "T map"):
            assert 300_000 <= len(real.file_bytes(image)) <= 3_000_000
            assert volume.get_data_dtype() == "float32" and volume.get_fdata()[0, 0, 0] == 0  # masked


def test_file_headers_are_sendfile_quirks(api: Api) -> None:
    image = api.emulator.images(api.emulator.collections[0]["id"])[0]
    response, _ = api.raw_file(image["file"])
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-encoding"] == "utf-8"
    assert "last-modified" in response.headers and "etag" not in response.headers
    assert "accept-ranges" not in response.headers and "x-emulator-file" not in response.headers
    assert response.headers["content-disposition"].startswith("inline; filename=")


def test_utf8_content_encoding_leaves_bytes_alone_even_for_iter_bytes(api: Api) -> None:
    image = api.emulator.images(api.emulator.collections[0]["id"])[0]
    assert api.client.get(image["file"]).content == api.emulator.file_bytes(image)


def test_gzip_content_encoding_trap_needs_iter_raw() -> None:
    emulator, server, api = serve(file_encoding="gzip", collections=1)
    with server:
        image = emulator.images(emulator.collections[0]["id"])[0]
        decoded = api.client.get(image["file"]).content
        response, raw = api.raw_file(image["file"])
    assert response.headers["content-encoding"] == "gzip"
    assert raw == emulator.file_bytes(image)  # what a client must store
    assert decoded == gzip.decompress(raw) != raw  # what iter_bytes()/.content silently produce


def test_range_is_ignored_and_if_modified_since_gives_304(api: Api) -> None:
    image = api.emulator.images(api.emulator.collections[0]["id"])[0]
    response, body = api.raw_file(image["file"], range="bytes=10-")
    assert response.status_code == 200 and body == api.emulator.file_bytes(image)
    response, body = api.raw_file(image["file"], **{"if-modified-since": response.headers["last-modified"]})
    assert response.status_code == 304 and body == b""


def test_range_support_fault_serves_206() -> None:
    emulator, server, api = serve(faults=Faults(range_support=True), collections=1)
    with server:
        image = emulator.images(emulator.collections[0]["id"])[0]
        response, body = api.raw_file(image["file"], range="bytes=10-")
    assert response.status_code == 206 and body == emulator.file_bytes(image)[10:]


def test_missing_file_switch_gives_size_0_and_404() -> None:
    emulator, server, api = serve(missing_file=True)
    with server:
        images = [i for c in emulator.collections for i in emulator.images(c["id"])]
        missing = [i for i in images if i["file_size"] == 0]
        assert len(missing) == 1
        response, _ = api.raw_file(missing[0]["file"])
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert api.json(f"/api/images/{missing[0]['id']}/")["file_size"] == 0


def test_missing_files_fault_removes_the_first_images() -> None:
    emulator, server, api = serve(faults=Faults(missing_files=2), collections=1)
    with server:
        images = emulator.images(emulator.collections[0]["id"])
        statuses = [api.raw_file(i["file"])[0].status_code for i in images]
    assert statuses[:2] == [404, 404] and set(statuses[2:]) == {200}


def test_html_fault_replaces_file_bodies() -> None:
    emulator, server, api = serve(faults=Faults(html_rate=1.0), collections=1)
    with server:
        image = emulator.images(emulator.collections[0]["id"])[0]
        response, body = api.raw_file(image["file"])
        assert api.json("/api/collections/")["count"] == 1  # JSON is not a file: untouched
    assert response.status_code == 200 and body.startswith(b"<!DOCTYPE html>")


def test_hostile_names_are_served_by_their_quoted_urls() -> None:
    emulator, server, api = serve(faults=Faults(hostile_names=True), collections=3)
    with server:
        images = emulator.images(emulator.collections[2]["id"])  # the collection with the odd names
        hostile = [i for i in images if i["name"] in ("../../../etc/passwd", "nul\x00byte.nii.gz")]
        assert len(hostile) == 2
        for image in images:
            response, body = api.raw_file(image["file"])
            assert response.status_code == 200 and body == emulator.file_bytes(image), image["file"]


# ------------------------------------------------------------------------------------ log and command


def test_request_log_records_what_was_asked() -> None:
    emulator, server, api = serve(collections=1)
    with server:
        image = emulator.images(emulator.collections[0]["id"])[0]
        api.json(f"/api/collections/?DOI={DOI}")
        api.raw_file(image["file"])
        api.client.get("/api/images/1/")
    entries = emulator.log.entries()
    assert [(e.path, e.status) for e in entries] == [
        ("/api/collections/", 200),
        (httpx.URL(image["file"]).path, 200),
        ("/api/images/1/", 404),
    ]
    assert emulator.log.count(lambda e: e.path.startswith("/media/")) == 1


def test_cli_serves_the_emulator() -> None:
    code = "from neurofetch.cli.emulate import emulate_app; emulate_app()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "neurovault", "--port", "0", "--ignore-filters"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        page = httpx.get(f"{url}/api/collections/", params={"DOI": DOI}).json()
        assert page["count"] == 6
    finally:
        process.terminate()
        process.wait(timeout=10)
