"""Contract of the LORIS emulator against reference/loris.md: every test that talks to it runs on each API
version (legacy openpreventad v0.0.3-dev, v0.0.3, v0.0.4-dev) and expects what that version's server answers."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from neurofetch.emulators.common import Faults, RunningServer
from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator
from neurofetch.emulators.loris.data import HDF5_SIGNATURE, HOSTILE_FILENAMES, VISIT_LABELS, ImageFile
from neurofetch.emulators.loris.versions import CONSTANT_ETAG, VERSIONS, ApiVersion

LEGACY_CT = "text/html; charset=UTF-8"
NAME_RE = re.compile(
    r"preventad_(\d{7})_([A-Z]{5}\d{2})_([-A-Za-z0-9]+)_(\d{3})"
    r"(_[-A-Za-z0-9]+-defaced_001)?\.(mnc|txt)"
)


class Api:
    """A started emulator with an httpx client on its API base."""

    def __init__(self, emulator: LorisEmulator, server: RunningServer, client: httpx.Client) -> None:
        self.emulator = emulator
        self.server = server
        self.client = client

    def login(self, username: str = "demo", password: str = "demo") -> httpx.Response:
        return self.client.post("/login", json={"username": username, "password": password})

    def token(self) -> str:
        response = self.login()
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def get(
        self,
        path: str,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.get(path, headers=headers, params=params)


@contextmanager
def started(emulator: LorisEmulator) -> Iterator[Api]:
    with emulator.serve() as server, httpx.Client(base_url=emulator.base_url(server), timeout=10) as client:
        yield Api(emulator, server, client)


@pytest.fixture(scope="module", params=list(VERSIONS))
def version(request: pytest.FixtureRequest) -> ApiVersion:
    return VERSIONS[request.param]


def json_type(version: ApiVersion) -> str:
    """The Content-Type of JSON bodies under /candidates: legacy scripts never set one."""
    return LEGACY_CT if version.legacy else "application/json"


def unauthenticated(version: ApiVersion) -> dict[str, str]:
    return {"error": "User not authenticated" if version.legacy else "unauthorized"}


@pytest.fixture(scope="module")
def api(version: ApiVersion) -> Iterator[Api]:
    with started(LorisEmulator(LorisDataset(candidates=3), api_version=version.name)) as api:
        yield api


@pytest.fixture(scope="module")
def token(api: Api) -> str:
    return api.token()


def _file_url(record: ImageFile) -> str:
    return f"/candidates/{record.cand}/{record.visit}/images/{record.filename}"


def _jwt_part(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# -- dataset -------------------------------------------------------------------------------------


def test_default_dataset_is_openpreventad_shaped() -> None:
    dataset = LorisDataset()
    assert len(dataset.candidates) == 6
    assert 20_000_000 < dataset.total_bytes() < 80_000_000
    for cand in dataset.candidates:
        assert re.fullmatch(r"\d{7}", cand.cand_id) and re.fullmatch(r"CONP\d{7}", cand.pscid)
        assert 1 <= len(cand.visits) <= 4 and {v.label for v in cand.visits} <= set(VISIT_LABELS)
    for record in dataset.files:
        match = NAME_RE.fullmatch(record.filename)
        assert match, record.filename
        assert (match[1], match[2]) == (record.cand, record.visit)
        assert record.output_type == ("defaced" if match[5] else "native")
    sizes = sorted(f.size for f in dataset.files)
    assert sizes[len(sizes) // 2] < 50_000 < sizes[-1]  # mostly small fieldmaps, a few large series
    assert dataset.candidates[0].visits[1].date is None  # the "Stages": [] visit
    assert dataset.candidates[1].visits[-1].files == ()  # the "Files": [] visit
    assert {f.qc for f in dataset.files} == {"Pass", "Fail", None}
    assert any(len(f.caveats) > 1 or f.caveats[0]["Severity"] for f in dataset.files)


def test_dataset_is_deterministic() -> None:
    one, two = LorisDataset(candidates=2, seed=7), LorisDataset(candidates=2, seed=7)
    assert one.files == two.files and one.candidates == two.candidates
    assert one.expected_tree() == two.expected_tree()
    assert LorisDataset(candidates=2, seed=8).files != one.files


@pytest.mark.timeout(60)
def test_a_dataset_of_thousands_of_candidates_has_a_distinct_pscid_each() -> None:
    dataset = LorisDataset(candidates=1000, size_scale=0.0001)  # the benchmarks' 36,000-file tree
    assert len({c.pscid for c in dataset.candidates}) == 1000


def test_content_is_minc2_or_text_and_sliceable() -> None:
    dataset = LorisDataset(candidates=2)
    mnc = next(f for f in dataset.files if f.filename.endswith(".mnc"))
    txt = next(f for f in dataset.files if f.filename.endswith(".txt"))
    data = dataset.content(*mnc.key)
    assert len(data) == mnc.size and data.startswith(HDF5_SIGNATURE)
    assert b"".join(dataset.iter_content(*mnc.key, start=100, chunk=1000)) == data[100:]
    text = dataset.content(*txt.key).decode("ascii")
    assert len(text) == txt.size and text.startswith("onset\tduration\t") and text.endswith("\n")
    assert set(dataset.expected_tree()) == {f.path for f in dataset.files}


def test_mnc_files_are_minc2_volumes_that_nibabel_opens(tmp_path: Path) -> None:
    nibabel = pytest.importorskip("nibabel")
    dataset = LorisDataset(candidates=2, size_scale=0.005)
    shapes, volumes = set(), []
    for index, record in enumerate(f for f in dataset.files if f.filename.endswith(".mnc")):
        path = tmp_path / f"{index}.mnc"  # one name per file: HDF5 keeps a file it has open by name
        path.write_bytes(dataset.content(*record.key))
        image = nibabel.load(path)
        assert type(image).__name__ == "Minc2Image" and image.get_data_dtype() == "int16"
        shapes.add(image.shape)
        volumes.append(image.get_fdata())
        assert image.header.get_zooms() == (1.0, 1.0, 1.0) and volumes[-1].max() > 500
    assert shapes == {(24, 32, 32), (12, 16, 16), (6, 8, 8)}  # the largest that fits each file's size
    assert not any((volumes[0] == v).all() for v in volumes[1:] if v.shape == volumes[0].shape)


def test_big_file_is_streamed_and_left_out_of_expected_tree() -> None:
    size = 3 * 1024 * 1024 + 5
    dataset = LorisDataset(candidates=1, big_file_size=size)
    big = dataset.big_file
    assert big is not None and big.size == size and big.visit == dataset.candidates[0].visits[0].label
    chunks = list(dataset.iter_content(*big.key, chunk=1 << 20))
    assert [len(c) for c in chunks] == [1 << 20] * 3 + [5]
    assert big.path not in dataset.expected_tree()


# -- login ---------------------------------------------------------------------------------------


def test_login_returns_hs256_jwt(api: Api) -> None:
    before = api.emulator.logins
    response = api.login()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    token = response.json()["token"]
    assert token.startswith("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.")
    payload = _jwt_part(token, 1)
    assert payload["user"] == "demo" and payload["iss"] == payload["aud"] == api.server.origin
    assert payload["exp"] == payload["iat"] + 86400 and payload["nbf"] == payload["iat"]
    assert api.emulator.logins == before + 1
    assert api.client.post("/login/", json={"username": "demo", "password": "demo"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"username": "demo", "password": "nope"}, 401, "Incorrect username or password."),
        ({"username": "nobody", "password": "demo"}, 401, "Incorrect username or password."),
        ({"username": "demo"}, 400, "Missing username or password"),
    ],
)
def test_login_errors(api: Api, body: dict[str, str], status: int, error: str) -> None:
    response = api.client.post("/login", json=body)
    assert (response.status_code, response.content) == (
        status,
        json.dumps({"error": error}, separators=(",", ":")).encode(),
    )
    assert response.headers["content-type"] == "application/json"


def test_login_rejects_form_encoding_and_get(api: Api) -> None:
    assert api.client.post("/login", data={"username": "demo", "password": "demo"}).status_code == 400
    response = api.client.get("/login")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert response.json() == {"error": "method not allowed"}


def test_repeated_bad_logins_suspend_the_account(version: ApiVersion) -> None:
    with started(LorisEmulator(LorisDataset(candidates=1), lockout_after=3, api_version=version.name)) as api:
        token = api.token()
        for _ in range(3):
            assert api.login(password="wrong").json() == {"error": "Incorrect username or password."}
        suspended = api.login()
        assert suspended.status_code == 401
        assert suspended.json() == {"error": "This account is currently suspended due to too many bad login attempts."}
        assert api.emulator.failed_logins == 4 and api.emulator.logins == 1
        assert api.emulator.suspended_users == {"demo"}
        assert api.get("/candidates", token).status_code == 401  # a locked account's tokens stop working


# -- authentication ------------------------------------------------------------------------------


def test_candidates_need_a_valid_token(api: Api, token: str, version: ApiVersion) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": f"Bearer {token[:-2]}xx"},
        {"Authorization": token},
    ):
        response = api.client.get("/candidates/", headers=headers)
        assert (response.status_code, response.json()) == (401, unauthenticated(version))
        assert response.headers["content-type"] == json_type(version)
    response = api.get("/projects")
    assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})
    assert response.headers["content-type"] == "application/json"


def test_expired_token_is_rejected(version: ApiVersion) -> None:
    with started(LorisEmulator(LorisDataset(candidates=1), token_ttl=0, api_version=version.name)) as api:
        token = api.token()
        assert _jwt_part(token, 1)["exp"] == _jwt_part(token, 1)["iat"]
        assert api.get("/candidates", token).status_code == 401


def test_token_expiry_after_n_requests_forces_relogin(version: ApiVersion) -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(token_expiry_after=3), api_version=version.name)
    with started(emulator) as api:
        token = api.token()
        assert [api.get("/candidates", token).status_code for _ in range(4)] == [200, 200, 200, 401]
        assert api.get("/candidates", token).json() == unauthenticated(version)
        fresh = api.token()
        assert api.get("/candidates", fresh).status_code == 200


# -- listings ------------------------------------------------------------------------------------


def test_candidates_listing(api: Api, token: str, version: ApiVersion) -> None:
    doubled = f"{api.client.base_url}/candidates/"  # .../api/v0.0.3-dev//candidates/: Apache merges slashes
    for path in ("/candidates", "/candidates/", doubled):
        response = api.get(path, token)
        assert response.status_code == 200 and response.headers["content-type"] == json_type(version)
    rows = response.json()["Candidates"]
    assert [r["CandID"] for r in rows] == [c.cand_id for c in api.emulator.dataset.candidates]
    if version.legacy:
        assert list(rows[0]) == ["CandID", "PSCID", "Site", "EDC", "DoB", "Sex", "Project"]
        assert rows[0]["Site"] == "MTL"
    else:
        assert list(rows[0]) == ["CandID", "Project", "PSCID", "Site", "EDC", "DoB", "Sex"]
        assert rows[0]["Site"] == "Montreal" and response.headers["etag"] == CONSTANT_ETAG
    etag = response.headers["etag"]
    assert api.get("/candidates/", token, headers={"If-None-Match": etag}).status_code == 304


def test_module_versions_answer_304_to_the_constant_etag_on_every_listing(
    api: Api, token: str, version: ApiVersion
) -> None:
    record = api.emulator.dataset.files[0]
    stale = {"If-None-Match": CONSTANT_ETAG}
    for path in (f"/candidates/{record.cand}/{record.visit}/images", _file_url(record) + "/qc"):
        assert api.get(path, token, headers=stale).status_code == (200 if version.legacy else 304)


def test_candidate_and_visit(api: Api, token: str, version: ApiVersion) -> None:
    cand = api.emulator.dataset.candidates[0]
    body = api.get(f"/candidates/{cand.cand_id}/", token).json()
    assert list(body["Meta"]) == ["CandID", "Project", "PSCID", "Site", "EDC", "DoB", "Sex"]
    assert body["Visits"] == [v.label for v in cand.visits]
    dated = api.get(f"/candidates/{cand.cand_id}/{cand.visits[0].label}", token)
    assert dated.headers["content-type"] == json_type(version)
    meta = {"CandID": cand.cand_id, "Visit": cand.visits[0].label, "Site": "Montreal"}
    meta |= (
        {"Cohort": "PREVENTAD", "Project": "loris"}
        if version.name == "v0.0.4-dev"
        else {"Battery": "PREVENTAD", "Project": "loris"}
        if version.name == "v0.0.3"
        else {"Battery": "PREVENTAD"}
    )
    assert dated.json() == {
        "Meta": meta,
        "Stages": {"Visit": {"Date": cand.visits[0].date, "Status": cand.visits[0].status}},
    }
    undated = api.get(f"/candidates/{cand.cand_id}/{cand.visits[1].label}/", token)
    assert undated.content.endswith(b',"Stages":[]}')


def test_images_listing_is_compact_json(api: Api, token: str, version: ApiVersion) -> None:
    cand = api.emulator.dataset.candidates[0]
    visit = cand.visits[0]
    response = api.get(f"/candidates/{cand.cand_id}/{visit.label}/images", token)
    phantom = {"IsPhantom": False} if version.phantom_flag else {}
    files = [
        {"OutputType": f.output_type, "Filename": f.filename, "AcquisitionType": f.acquisition_type, **phantom}
        for f in visit.files
    ]
    expected = json.dumps(
        {"Meta": {"CandID": cand.cand_id, "Visit": visit.label}, "Files": files}, separators=(",", ":")
    )
    assert response.text == expected and response.headers["content-type"] == json_type(version)
    # The legacy rewrite rule for the list takes no trailing slash; the 22+ router strips one.
    trailing = api.get(f"/candidates/{cand.cand_id}/{visit.label}/images/", token)
    assert trailing.status_code == (404 if version.legacy else 200)
    empty = api.emulator.dataset.candidates[1].visits[-1]
    body = api.get(f"/candidates/{api.emulator.dataset.candidates[1].cand_id}/{empty.label}/images", token).json()
    assert body["Files"] == []


@pytest.mark.parametrize(
    ("path", "legacy", "module"),
    [
        ("/candidates/1000000", (404, "Unknown CandID"), (404, "Candidate not found")),
        ("/candidates/123", (400, "Invalid CandID format"), (404, "Candidate not found")),
        ("/candidates/{cand}/PREFU99", (404, "Invalid visit PREFU99"), (404, "Visit not found")),
        ("/candidates/{cand}/{visit}/images/nope.mnc", (404, "File not found"), (404, "nope.mnc not found.")),
        ("/candidates/{cand}/{visit}/images/{suffix}", (404, "File not found"), (404, "{suffix} not found.")),
    ],
)
def test_not_found_errors(
    api: Api, token: str, version: ApiVersion, path: str, legacy: tuple[int, str], module: tuple[int, str]
) -> None:
    record = api.emulator.dataset.files[0]
    names = {"cand": record.cand, "visit": record.visit, "suffix": record.filename[3:]}
    response = api.get(path.format(**names), token)
    status, error = legacy if version.legacy else module
    assert (response.status_code, response.json()) == (status, {"error": error.format(**names)})
    assert response.headers["content-type"] == json_type(version)


def test_unknown_paths_get_apache_html_404_or_the_routers_json(api: Api, token: str, version: ApiVersion) -> None:
    for path in ("/nothing", "/candidates/abc", "/candidates/1000000/PREBL00/images/a%20b.mnc"):
        response = api.get(path, token)
        assert response.status_code == 404
        if version.legacy:
            assert response.text.startswith("<!DOCTYPE HTML")
        else:
            assert response.headers["content-type"] == "application/json" and "error" in response.json()


def test_a_path_without_the_version_gets_400_and_another_version_404(api: Api, token: str, version: ApiVersion) -> None:
    root = str(api.client.base_url).rstrip("/").removesuffix("/" + version.name)
    for path in ("/candidates", "/", "/login"):
        response = api.client.get(root + path, headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json()) == (
            400,
            {"error": "You must specify a version of the API to use in the URL"},
        )
    other = next(name for name in (*VERSIONS, "v0.0.9") if name != version.name)
    response = api.client.get(f"{root}/{other}/candidates")
    assert (response.status_code, response.json()) == (404, {"error": "Unsupported version"})
    assert api.client.get(root.removesuffix("/api") + "/elsewhere").text.startswith("<!DOCTYPE HTML")


def test_pscid_lookups_from_v0_0_4_dev(api: Api, token: str, version: ApiVersion) -> None:
    cand = api.emulator.dataset.candidates[0]
    response = api.get(f"/candidates/{cand.pscid}/{cand.visits[0].label}/images", token)
    if version.pscid_lookup:
        assert response.json()["Meta"]["CandID"] == cand.cand_id
    else:
        assert response.status_code == 404


# -- files and QC --------------------------------------------------------------------------------


def test_file_download(api: Api, token: str, version: ApiVersion) -> None:
    dataset = api.emulator.dataset
    for record in (next(f for f in dataset.files if f.filename.endswith(ext)) for ext in (".mnc", ".txt")):
        response = api.get(_file_url(record), token)
        assert response.status_code == 200 and response.content == dataset.content(*record.key)
        assert response.headers["content-length"] == str(record.size)
        assert response.headers["content-type"] == record.content_type
        assert response.headers["content-disposition"] == f"attachment; filename={record.filename}"
        assert "x-emulator-file" not in response.headers
        if version.legacy:
            assert response.headers["cache-control"] == "private" and response.headers["etag"] == ""
            continue
        etag = response.headers["etag"]  # 22+: md5 of the file's name, size and mtime
        assert re.fullmatch(r"[0-9a-f]{32}", etag) and "cache-control" not in response.headers
        assert api.get(_file_url(record), token, headers={"If-None-Match": etag}).status_code == 304
    assert {r.content_type for r in dataset.files} == {"application/x.minc2", "application/octet-stream"}


def test_qc(api: Api, token: str, version: ApiVersion) -> None:
    dataset = api.emulator.dataset
    for record in dataset.files[:6]:
        response = api.get(_file_url(record) + "/qc", token)
        assert response.headers["content-type"] == json_type(version)
        body = response.json()
        selected = record.selected if version.legacy or record.selected is None else record.selected == "true"
        assert body == {
            "Meta": {"CandID": record.cand, "Visit": record.visit, "File": record.filename},
            "QC": record.qc,
            "Selected": selected,
            "Caveats": [dict(c) for c in record.caveats],
        }
        assert body["QC"] in ("Pass", "Fail", None)
        assert body["Selected"] in (("true", "false", None) if version.legacy else (True, False, None))
    no_caveat = next(f for f in dataset.files if f.caveats[0]["Severity"] is None)
    assert api.get(_file_url(no_caveat) + "/qc", token).json()["Caveats"] == [
        {"Severity": None, "Header": None, "Value": None, "ValidRange": None, "ValidRegex": None}
    ]


def test_head_is_not_allowed(api: Api, token: str) -> None:
    record = api.emulator.dataset.files[0]
    for path in (_file_url(record), "/candidates/", f"/candidates/{record.cand}"):
        response = api.client.head(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 405 and "GET" in response.headers["allow"]


def test_range_is_ignored_by_default(api: Api, token: str) -> None:
    record = api.emulator.dataset.files[0]
    response = api.get(_file_url(record), token, headers={"Range": "bytes=100-"})
    assert response.status_code == 200 and len(response.content) == record.size
    assert "content-range" not in response.headers


def test_range_support_fault_serves_206(version: ApiVersion) -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(range_support=True), api_version=version.name)
    with started(emulator) as api:
        token = api.token()
        record = emulator.dataset.files[0]
        response = api.get(_file_url(record), token, headers={"Range": "bytes=100-"})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes 100-{record.size - 1}/{record.size}"
        assert response.content == emulator.dataset.content(*record.key)[100:]
        assert api.get(_file_url(record), token, headers={"Range": f"bytes={record.size}-"}).status_code == 416


def test_missing_files_answer_500_with_empty_body_or_404_from_22(version: ApiVersion) -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(missing_files=2), api_version=version.name)
    with started(emulator) as api:
        token = api.token()
        first, second, third = emulator.dataset.files[:3]
        listed = api.get(f"/candidates/{first.cand}/{first.visit}/images", token).json()["Files"]
        assert first.filename in [f["Filename"] for f in listed]
        for record in (first, second):
            response = api.get(_file_url(record), token)
            assert (response.status_code, response.content) == (
                (500, b"") if version.legacy else (404, b'{"error":"not found"}')
            )
        assert api.get(_file_url(first) + "/qc", token).status_code == 200
        assert api.get(_file_url(third), token).status_code == 200


def test_hostile_names_are_listed_exactly(version: ApiVersion) -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(hostile_names=True), api_version=version.name)
    with started(emulator) as api:
        token = api.token()
        hostile = emulator.dataset.candidates[-1]
        assert api.get(f"/candidates/{hostile.cand_id}", token).json()["Visits"] == ["PREBL00", ".."]
        response = api.get(f"/candidates/{hostile.cand_id}/PREBL00/images", token)
        names = [f["Filename"] for f in response.json()["Files"]]
        assert names[1:] == list(HOSTILE_FILENAMES) and len(names[-1].encode()) > 255
        escaped = b'"..\\/..\\/escape.mnc"' if version.legacy else b'"../../escape.mnc"'  # PHP escapes slashes
        assert escaped in response.content and b"\\u0000" in response.content
        tree = emulator.dataset.expected_tree()
        assert f"{hostile.cand_id}/PREBL00/{names[0]}" in tree
        assert not any(name in path for path in tree for name in HOSTILE_FILENAMES)
        assert api.get(f"/candidates/{hostile.cand_id}/PREBL00/images/sub%2Fdir.mnc", token).status_code == 404


def test_projects_manifest(api: Api, token: str, version: ApiVersion) -> None:
    assert list(api.get("/projects", token).json()["Projects"]) == ["loris"]
    response = api.get("/projects/loris/images", token)
    assert response.headers["content-type"] == "application/json"
    images = response.json()["Images"]
    assert len(images) == len(api.emulator.dataset.files)
    first = images[0]
    assert first["Link"] == f"/candidates/{first['Candidate']}/{first['Visit']}/images/" + first["Link"].split("/")[-1]
    later = api.get("/projects/loris/images", token, params={"since": images[10]["InsertTime"]}).json()["Images"]
    garbage = api.get("/projects/loris/images", token, params={"since": "garbage"})
    if version.since:
        assert later == images[11:] and garbage.status_code == 400
    else:  # ?since= is taken from v0.0.4-dev on; before, the whole manifest
        assert later == images and garbage.status_code == 200


# -- serving -------------------------------------------------------------------------------------


def test_request_log_counts_file_gets(api: Api, token: str) -> None:
    api.emulator.log.clear()
    records = api.emulator.dataset.files[:3]
    for record in records:
        api.get(_file_url(record), token)
    entries = api.emulator.log.entries()
    assert [(e.method, e.path, e.status) for e in entries] == [
        ("GET", api.emulator.base_path + _file_url(r), 200) for r in records
    ]
    assert entries[0].headers["authorization"] == f"Bearer {token}"


def test_slow_download_does_not_block_other_requests(version: ApiVersion) -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(drip=10000), api_version=version.name)
    with started(emulator) as api:
        token = api.token()
        record = min((f for f in emulator.dataset.files if f.size > 5000), key=lambda f: f.size)  # ~0.8 s
        slow = threading.Thread(target=api.get, args=(_file_url(record), token))
        slow.start()
        time.sleep(0.1)
        began = time.monotonic()
        with httpx.Client(base_url=api.client.base_url) as other:
            assert other.get("candidates", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert time.monotonic() - began < 0.5
        slow.join()
        assert time.monotonic() - began > 0.3  # the slow download really was slow


def test_cli_serves_with_password_from_stdin(version: ApiVersion) -> None:
    code = "from neurofetch.cli.emulate import emulate_app; emulate_app()"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "loris",
            "--port",
            "0",
            "--candidates",
            "1",
            "--user",
            "jdoe",
            "--password-stdin",
            "--api-version",
            version.name,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin and process.stdout
        process.stdin.write("s3cret!\n")
        process.stdin.close()
        url = process.stdout.readline().strip()
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/api/{re.escape(version.name)}", url), url
        response = httpx.post(f"{url}/login", json={"username": "jdoe", "password": "s3cret!"})
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
