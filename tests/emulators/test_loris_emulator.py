"""Contract of the LORIS v0.0.3-dev emulator against reference/loris.md (legacy openpreventad behaviour)."""

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

LEGACY_CT = "text/html; charset=UTF-8"
NAME_RE = re.compile(r"preventad_(\d{7})_([A-Z]{5}\d{2})_([-A-Za-z0-9]+)_(\d{3})"
                     r"(_[-A-Za-z0-9]+-defaced_001)?\.(mnc|txt)")


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

    def get(self, path: str, token: str | None = None, headers: dict[str, str] | None = None,
            params: dict[str, str] | None = None) -> httpx.Response:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.get(path, headers=headers, params=params)


@contextmanager
def started(emulator: LorisEmulator) -> Iterator[Api]:
    with emulator.serve() as server, httpx.Client(base_url=emulator.base_url(server), timeout=10) as client:
        yield Api(emulator, server, client)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with started(LorisEmulator(LorisDataset(candidates=3))) as api:
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
    dataset = LorisDataset(candidates=1000, size_scale=0.0001)   # the benchmarks' 36,000-file tree
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
        path = tmp_path / f"{index}.mnc"       # one name per file: HDF5 keeps a file it has open by name
        path.write_bytes(dataset.content(*record.key))
        image = nibabel.load(path)
        assert type(image).__name__ == "Minc2Image" and image.get_data_dtype() == "int16"
        shapes.add(image.shape)
        volumes.append(image.get_fdata())
        assert image.header.get_zooms() == (1.0, 1.0, 1.0) and volumes[-1].max() > 500
    assert shapes == {(24, 32, 32), (12, 16, 16), (6, 8, 8)}     # the largest that fits each file's size
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


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"username": "demo", "password": "nope"}, 401, "Incorrect username or password."),
    ({"username": "nobody", "password": "demo"}, 401, "Incorrect username or password."),
    ({"username": "demo"}, 400, "Missing username or password"),
])
def test_login_errors(api: Api, body: dict[str, str], status: int, error: str) -> None:
    response = api.client.post("/login", json=body)
    assert (response.status_code, response.content) == (status, json.dumps({"error": error}, separators=(",", ":"))
                                                         .encode())
    assert response.headers["content-type"] == "application/json"


def test_login_rejects_form_encoding_and_get(api: Api) -> None:
    assert api.client.post("/login", data={"username": "demo", "password": "demo"}).status_code == 400
    response = api.client.get("/login")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert response.json() == {"error": "method not allowed"}


def test_repeated_bad_logins_suspend_the_account() -> None:
    with started(LorisEmulator(LorisDataset(candidates=1), lockout_after=3)) as api:
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


def test_candidates_need_a_valid_token(api: Api, token: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": f"Bearer {token[:-2]}xx"},
                    {"Authorization": token}):
        response = api.client.get("/candidates/", headers=headers)
        assert (response.status_code, response.content) == (401, b'{"error":"User not authenticated"}')
        assert response.headers["content-type"] == LEGACY_CT
    response = api.get("/projects")
    assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})
    assert response.headers["content-type"] == "application/json"


def test_expired_token_is_rejected() -> None:
    with started(LorisEmulator(LorisDataset(candidates=1), token_ttl=0)) as api:
        token = api.token()
        assert _jwt_part(token, 1)["exp"] == _jwt_part(token, 1)["iat"]
        assert api.get("/candidates", token).status_code == 401


def test_token_expiry_after_n_requests_forces_relogin() -> None:
    with started(LorisEmulator(LorisDataset(candidates=1), faults=Faults(token_expiry_after=3))) as api:
        token = api.token()
        assert [api.get("/candidates", token).status_code for _ in range(4)] == [200, 200, 200, 401]
        assert api.get("/candidates", token).json() == {"error": "User not authenticated"}
        fresh = api.token()
        assert api.get("/candidates", fresh).status_code == 200


# -- listings ------------------------------------------------------------------------------------


def test_candidates_listing(api: Api, token: str) -> None:
    doubled = f"{api.client.base_url}/candidates/"  # .../api/v0.0.3-dev//candidates/: Apache merges slashes
    for path in ("/candidates", "/candidates/", doubled):
        response = api.get(path, token)
        assert response.status_code == 200 and response.headers["content-type"] == LEGACY_CT
    rows = response.json()["Candidates"]
    assert [r["CandID"] for r in rows] == [c.cand_id for c in api.emulator.dataset.candidates]
    assert list(rows[0]) == ["CandID", "PSCID", "Site", "EDC", "DoB", "Sex", "Project"]
    etag = response.headers["etag"]
    assert api.get("/candidates/", token, headers={"If-None-Match": etag}).status_code == 304


def test_candidate_and_visit(api: Api, token: str) -> None:
    cand = api.emulator.dataset.candidates[0]
    body = api.get(f"/candidates/{cand.cand_id}/", token).json()
    assert list(body["Meta"]) == ["CandID", "Project", "PSCID", "Site", "EDC", "DoB", "Sex"]
    assert body["Visits"] == [v.label for v in cand.visits]
    dated = api.get(f"/candidates/{cand.cand_id}/{cand.visits[0].label}", token)
    assert dated.headers["content-type"] == LEGACY_CT
    assert dated.json() == {"Meta": {"CandID": cand.cand_id, "Visit": cand.visits[0].label, "Site": "Montreal",
                                     "Battery": "PREVENTAD"},
                            "Stages": {"Visit": {"Date": cand.visits[0].date, "Status": cand.visits[0].status}}}
    undated = api.get(f"/candidates/{cand.cand_id}/{cand.visits[1].label}/", token)
    assert undated.content.endswith(b',"Stages":[]}')


def test_images_listing_is_compact_legacy_json(api: Api, token: str) -> None:
    cand = api.emulator.dataset.candidates[0]
    visit = cand.visits[0]
    response = api.get(f"/candidates/{cand.cand_id}/{visit.label}/images", token)
    files = [{"OutputType": f.output_type, "Filename": f.filename, "AcquisitionType": f.acquisition_type}
             for f in visit.files]
    expected = json.dumps({"Meta": {"CandID": cand.cand_id, "Visit": visit.label}, "Files": files},
                          separators=(",", ":"))
    assert response.text == expected and response.headers["content-type"] == LEGACY_CT
    assert api.get(f"/candidates/{cand.cand_id}/{visit.label}/images/", token).status_code == 404
    empty = api.emulator.dataset.candidates[1].visits[-1]
    body = api.get(f"/candidates/{api.emulator.dataset.candidates[1].cand_id}/{empty.label}/images", token).json()
    assert body["Files"] == []


@pytest.mark.parametrize(("path", "body"), [
    ("/candidates/1000000", b'{"error":"Unknown CandID"}'),
    ("/candidates/123", b'{"error":"Invalid CandID format"}'),
    ("/candidates/{cand}/PREFU99", b'{"error":"Invalid visit PREFU99"}'),
    ("/candidates/{cand}/{visit}/images/nope.mnc", b'{"error":"File not found"}'),
    ("/candidates/{cand}/{visit}/images/{suffix}", b'{"error":"File not found"}'),
])
def test_not_found_errors(api: Api, token: str, path: str, body: bytes) -> None:
    record = api.emulator.dataset.files[0]
    response = api.get(path.format(cand=record.cand, visit=record.visit, suffix=record.filename[3:]), token)
    assert response.status_code in (400, 404) and response.content == body
    assert response.headers["content-type"] == LEGACY_CT


def test_unknown_paths_get_apache_html_404(api: Api, token: str) -> None:
    for path in ("/nothing", "/candidates/abc", "/candidates/1000000/PREBL00/images/a%20b.mnc"):
        response = api.get(path, token)
        assert response.status_code == 404 and response.text.startswith("<!DOCTYPE HTML")


# -- files and QC --------------------------------------------------------------------------------


def test_file_download(api: Api, token: str) -> None:
    dataset = api.emulator.dataset
    for record in (next(f for f in dataset.files if f.filename.endswith(ext)) for ext in (".mnc", ".txt")):
        response = api.get(_file_url(record), token)
        assert response.status_code == 200 and response.content == dataset.content(*record.key)
        assert response.headers["content-length"] == str(record.size)
        assert response.headers["content-type"] == record.content_type
        assert response.headers["content-disposition"] == f"attachment; filename={record.filename}"
        assert response.headers["cache-control"] == "private" and response.headers["etag"] == ""
        assert "x-emulator-file" not in response.headers
    assert {r.content_type for r in dataset.files} == {"application/x.minc2", "application/octet-stream"}


def test_qc(api: Api, token: str) -> None:
    dataset = api.emulator.dataset
    for record in dataset.files[:6]:
        response = api.get(_file_url(record) + "/qc", token)
        assert response.headers["content-type"] == LEGACY_CT
        body = response.json()
        assert body == {"Meta": {"CandID": record.cand, "Visit": record.visit, "File": record.filename},
                        "QC": record.qc, "Selected": record.selected, "Caveats": [dict(c) for c in record.caveats]}
        assert body["QC"] in ("Pass", "Fail", None) and body["Selected"] in ("true", "false", None)
    no_caveat = next(f for f in dataset.files if f.caveats[0]["Severity"] is None)
    assert api.get(_file_url(no_caveat) + "/qc", token).json()["Caveats"] == [
        {"Severity": None, "Header": None, "Value": None, "ValidRange": None, "ValidRegex": None}]


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


def test_range_support_fault_serves_206() -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(range_support=True))
    with started(emulator) as api:
        token = api.token()
        record = emulator.dataset.files[0]
        response = api.get(_file_url(record), token, headers={"Range": "bytes=100-"})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes 100-{record.size - 1}/{record.size}"
        assert response.content == emulator.dataset.content(*record.key)[100:]
        assert api.get(_file_url(record), token, headers={"Range": f"bytes={record.size}-"}).status_code == 416


def test_missing_files_answer_500_with_empty_body() -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(missing_files=2))
    with started(emulator) as api:
        token = api.token()
        first, second, third = emulator.dataset.files[:3]
        listed = api.get(f"/candidates/{first.cand}/{first.visit}/images", token).json()["Files"]
        assert first.filename in [f["Filename"] for f in listed]
        for record in (first, second):
            response = api.get(_file_url(record), token)
            assert (response.status_code, response.content) == (500, b"")
        assert api.get(_file_url(first) + "/qc", token).status_code == 200
        assert api.get(_file_url(third), token).status_code == 200


def test_hostile_names_are_listed_exactly() -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(hostile_names=True))
    with started(emulator) as api:
        token = api.token()
        hostile = emulator.dataset.candidates[-1]
        assert api.get(f"/candidates/{hostile.cand_id}", token).json()["Visits"] == ["PREBL00", ".."]
        response = api.get(f"/candidates/{hostile.cand_id}/PREBL00/images", token)
        names = [f["Filename"] for f in response.json()["Files"]]
        assert names[1:] == list(HOSTILE_FILENAMES) and len(names[-1].encode()) > 255
        assert b'"..\\/..\\/escape.mnc"' in response.content and b"\\u0000" in response.content
        tree = emulator.dataset.expected_tree()
        assert f"{hostile.cand_id}/PREBL00/{names[0]}" in tree
        assert not any(name in path for path in tree for name in HOSTILE_FILENAMES)
        assert api.get(f"/candidates/{hostile.cand_id}/PREBL00/images/sub%2Fdir.mnc", token).status_code == 404


def test_projects_manifest(api: Api, token: str) -> None:
    assert list(api.get("/projects", token).json()["Projects"]) == ["loris"]
    response = api.get("/projects/loris/images", token)
    assert response.headers["content-type"] == "application/json"
    images = response.json()["Images"]
    assert len(images) == len(api.emulator.dataset.files)
    first = images[0]
    assert first["Link"] == f"/candidates/{first['Candidate']}/{first['Visit']}/images/" + first["Link"].split("/")[-1]
    later = api.get("/projects/loris/images", token, params={"since": images[10]["InsertTime"]}).json()["Images"]
    assert later == images[11:]
    assert api.get("/projects/loris/images", token, params={"since": "garbage"}).status_code == 400


# -- serving -------------------------------------------------------------------------------------


def test_request_log_counts_file_gets(api: Api, token: str) -> None:
    api.emulator.log.clear()
    records = api.emulator.dataset.files[:3]
    for record in records:
        api.get(_file_url(record), token)
    entries = api.emulator.log.entries()
    assert [(e.method, e.path, e.status) for e in entries] == [
        ("GET", api.emulator.base_path + _file_url(r), 200) for r in records]
    assert entries[0].headers["authorization"] == f"Bearer {token}"


def test_slow_download_does_not_block_other_requests() -> None:
    emulator = LorisEmulator(LorisDataset(candidates=1), faults=Faults(drip=10000))
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


def test_cli_serves_with_password_from_stdin() -> None:
    code = "from neurofetch.cli.emulate import emulate_app; emulate_app()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "loris", "--port", "0", "--candidates", "1", "--user", "jdoe",
         "--password-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdin and process.stdout
        process.stdin.write("s3cret!\n")
        process.stdin.close()
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v0\.0\.3-dev", url), url
        response = httpx.post(f"{url}/login", json={"username": "jdoe", "password": "s3cret!"})
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
