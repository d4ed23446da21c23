"""The Datamint emulator over loopback, driven with httpx the way reference/datamint.md §2 says
the official client (2.45) talks to the server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import quote

import httpx
import pytest

from neurofetch.emulators.common import Faults
from neurofetch.emulators.datamint.app import DatamintEmulator

KEY = "demo-key"
REQUIRED_RESOURCE_FIELDS = {
    "id",
    "storage",
    "location",
    "filename",
    "mimetype",
    "status",
    "created_at",
    "created_by",
    "resource_uri",
    "upload_channel",
    "customer_id",
    "published",
    "deleted",
}
REQUIRED_PROJECT_FIELDS = {
    "id",
    "name",
    "created_at",
    "created_by",
    "dataset_id",
    "archived",
    "resource_count",
    "description",
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3


class Served:
    def __init__(self, emulator: DatamintEmulator, url: str) -> None:
        self.emulator = emulator
        self.url = url
        self.client = httpx.Client(base_url=url, headers={"apikey": KEY, "Authorization": f"Bearer {KEY}"})


@pytest.fixture
def served() -> Iterator[Served]:
    emulator = DatamintEmulator()
    with emulator.serve() as server:
        served = Served(emulator, emulator.base_url(server))
        yield served
        served.client.close()


def multipart(parts: list[tuple[str, str | bytes, str | None, str]]) -> tuple[bytes, str]:
    """A body laid out as aiohttp lays out the official client's upload: text parts typed
    text/plain; charset=utf-8, the filename percent-encoded. Parts are (name, value, filename, type)."""
    boundary = uuid.uuid4().hex
    chunks = []
    for name, value, filename, content_type in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{quote(filename, safe="")}"'
        data = value.encode() if isinstance(value, str) else value
        head = f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n\r\n"
        chunks.append(head.encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def official_upload(
    filename: str,
    data: bytes,
    *,
    mimetype: str = "image/png",
    channel: str | None = None,
    modality: str | None = None,
    publish: bool = False,
    tags: list[str] | None = None,
    metadata: dict[str, object] | None = None,
    source_filepath: str | None = None,
) -> tuple[bytes, str]:
    text = "text/plain; charset=utf-8"
    parts: list[tuple[str, str | bytes, str | None, str]] = [
        ("source", "api", None, text),
        ("resource", data, filename, mimetype),
        ("source_filepath", source_filepath or f"/home/user/data/{filename}", None, text),
        ("mimetype", mimetype, None, text),
    ]
    if channel is not None:
        parts.append(("channel", channel, None, text))
    if modality is not None:
        parts.append(("modality", modality, None, text))
    parts.append(("bypass_inbox", "true" if publish else "false", None, text))
    if tags:
        parts.append(("tags", ",".join(t.strip() for t in tags), None, text))
    if metadata is not None:
        parts.append(("metadata", json.dumps(metadata), None, "application/json"))
    return multipart(parts)


def upload(served: Served, filename: str, data: bytes = PNG, **kwargs: object) -> str:
    body, content_type = official_upload(filename, data, **kwargs)  # type: ignore[arg-type]
    # aiohttp sends only the apikey header on uploads.
    reply = httpx.post(served.url + "/resources", content=body, headers={"apikey": KEY, "content-type": content_type})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def listed(served: Served, **params: object) -> list[dict[str, object]]:
    """All pages, walked as the official client walks them (stop at the first short page)."""
    found: list[dict[str, object]] = []
    offset, limit = 0, int(params.pop("limit", 5000))  # type: ignore[call-overload]
    while True:
        reply = served.client.get("/resources", params={"status": "", **params, "offset": offset, "limit": limit})
        assert reply.status_code == 200, reply.text
        page = reply.json()["data"][0]["resources"]
        found.extend(page)
        if len(page) < limit:
            return found
        offset += len(page)


def test_upload_keeps_every_part_and_the_exact_bytes(served: Served) -> None:
    rid = upload(
        served,
        "normal (95).png",
        channel="stubchan",
        modality="US",
        tags=["t1", "t 2"],
        metadata={"Modality": "US", "foo": 1},
        source_filepath="/tmp/dm/normal (95).png",
    )
    assert uuid.UUID(rid)
    record = served.emulator.resource(rid)
    assert served.emulator.uploaded_bytes(rid) == PNG
    assert (record.filename, record.sent_filename) == ("normal (95).png", "normal%20%2895%29.png")
    assert record.tags == ["t1", "t 2"] and record.metadata == {"Modality": "US", "foo": 1}
    assert record.upload_fields["source"] == "api" and record.upload_fields["bypass_inbox"] == "false"
    assert served.emulator.upload_posts == 1

    shown = served.client.get(f"/resources/{rid}").json()
    assert shown.keys() >= REQUIRED_RESOURCE_FIELDS
    assert shown | {"created_at": None} == shown | {
        "filename": "normal (95).png",
        "mimetype": "image/png",
        "size": len(PNG),
        "status": "inbox",
        "published": False,
        "deleted": False,
        "upload_channel": "stubchan",
        "modality": "US",
        "storage": "ImageResource",
        "source_filepath": "/tmp/dm/normal (95).png",
        "tags": ["t1", "t 2"],
        "resource_uri": f"/resources/{rid}/file",
        "created_at": None,
    }


def test_percent_encoded_unicode_filename_is_decoded(served: Served) -> None:
    rid = upload(served, "ção é.png")
    assert served.emulator.resource(rid).sent_filename == "%C3%A7%C3%A3o%20%C3%A9.png"
    assert served.client.get(f"/resources/{rid}").json()["filename"] == "ção é.png"


def test_upload_with_bypass_inbox_is_published_and_bad_parts_are_400(served: Served) -> None:
    rid = upload(served, "a.png", publish=True)
    assert served.client.get(f"/resources/{rid}").json()["status"] == "published"
    body, content_type = multipart([("source", "api", None, "text/plain")])
    reply = httpx.post(served.url + "/resources", content=body, headers={"apikey": KEY, "content-type": content_type})
    assert reply.status_code == 400 and "resource" in reply.json()["message"]


def test_list_shape_and_offset_limit_paging(served: Served) -> None:
    ids = {served.emulator.add_resource(f"img{i}.png", PNG).id for i in range(7)}
    reply = served.client.get("/resources", params={"status": "", "offset": 0, "limit": 3}).json()
    assert reply["totalCount"] == 7 and list(reply) == ["data", "totalCount"]
    assert len(reply["data"]) == 1 and len(reply["data"][0]["resources"]) == 3
    pages = [
        served.client.get("/resources", params={"offset": o, "limit": 3}).json()["data"][0]["resources"]
        for o in (0, 3, 6, 9)
    ]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    assert {r["id"] for r in listed(served, limit=3)} == ids
    newest_first = [r["filename"] for r in listed(served)]
    assert newest_first == [f"img{i}.png" for i in reversed(range(7))]
    assert served.client.get("/resources", params={"limit": "x"}).status_code == 400


def test_filters(served: Served) -> None:
    emulator = served.emulator
    jan, jun = datetime(2024, 1, 5, tzinfo=timezone.utc), datetime(2024, 6, 5, tzinfo=timezone.utc)
    a = emulator.add_resource("a.png", PNG, mimetype="image/png", channel="c1", tags=["x", "y"], created_at=jan)
    b = emulator.add_resource(
        "b.dcm",
        b"DICM",
        mimetype="application/dicom",
        channel="c2",
        tags=["y"],
        project="Brain MRI Study",
        created_at=jun,
    )
    c = emulator.add_resource("scan_b.png", PNG, mimetype="image/png", tags=["z"], modality="US")

    def ids(**params: object) -> set[str]:
        return {str(r["id"]) for r in listed(served, **params)}

    assert ids(status="inbox") == {a.id, c.id} and ids(status="published") == {b.id}
    assert ids(channel_name="c1") == {a.id}
    assert ids(mimetype="application/dicom") == {b.id} and ids(modality="US") == {c.id}
    assert ids(tags=json.dumps({"items": ["x", "z"], "filterType": "union"})) == {a.id, c.id}
    assert ids(tags=json.dumps({"items": ["x", "y"], "filterType": "intersection"})) == {a.id}
    assert ids(project=json.dumps({"items": ["Brain MRI Study"], "filterType": "intersection"})) == {b.id}
    assert ids(**{"from": "2024-01-01", "to": "2024-06-05"}) == {a.id}  # `to` is exclusive
    assert ids(**{"from": "2024-06-01", "to": "2024-07-01"}) == {b.id}
    assert ids(filename="B.DC") == {b.id}  # substring, any case
    served.client.delete(f"/resources/{c.id}").raise_for_status()
    assert c.id not in ids() and ids(deleted="only") == {c.id}
    assert served.client.get("/resources", params={"status": "new"}).status_code == 400


def test_find_a_resource_by_filename_then_source_filepath(served: Served) -> None:
    """How a client settles an unknown upload outcome: no hash is sent, so ask by filename
    (server side) and compare source_filepath and size (client side), as the official client does."""
    rid = upload(served, "scan.png", source_filepath="/data/sub-01/scan.png")
    upload(served, "scan.png", source_filepath="/data/sub-02/scan.png")
    matches = [
        r
        for r in listed(served, filename="scan.png")
        if r["source_filepath"] == "/data/sub-01/scan.png" and r["size"] == len(PNG)
    ]
    assert [r["id"] for r in matches] == [rid]


def test_publish_then_republish_is_400(served: Served) -> None:
    rid = upload(served, "p.png")
    first = served.client.post(f"/resources/{rid}/publish")
    assert first.status_code == 200 and first.json()["status"] == "published" and first.json()["published_on"]
    again = served.client.post(f"/resources/{rid}/publish")
    assert again.status_code == 400
    assert "Resource must be in inbox status to be approved" in again.text
    missing = served.client.post(f"/resources/{uuid.uuid4()}/publish")
    assert missing.status_code == 404 and " not found" in missing.json()["message"]


def test_bulk_publish(served: Served) -> None:
    ids = [upload(served, f"b{i}.png") for i in range(3)]
    served.client.post(f"/resources/{ids[0]}/publish").raise_for_status()
    reply = served.client.post("/resources/bulk-publish", json={"resource_ids": ids})
    assert reply.status_code == 200 and reply.json() == {"published": 2}
    assert {r.status for r in served.emulator.resources()} == {"published"}
    unknown = served.client.post("/resources/bulk-publish", json={"resource_ids": [str(uuid.uuid4())]})
    assert unknown.status_code == 404


def test_projects_and_publish_to_project(served: Served) -> None:
    projects = served.client.get("/projects", params={"offset": 0, "limit": 1}).json()["data"]
    assert len(projects) == 1 and projects[0].keys() >= REQUIRED_PROJECT_FIELDS
    everything = served.client.get("/projects", params={"includeArchived": "true", "offset": 0, "limit": 5000})
    pid = next(p["id"] for p in everything.json()["data"] if p["name"] == "Brain MRI Study")
    published, inbox = upload(served, "in.png", publish=True), upload(served, "out.png")
    body = {"resource_ids_to_add": [published], "all_files_selected": False}
    assert served.client.post(f"/projects/{pid}/resources", json=body).status_code == 201
    assert [r["id"] for r in served.client.get(f"/projects/{pid}/resources").json()] == [published]
    assert served.client.get(f"/projects/{pid}").json()["resource_count"] == 1
    refused = served.client.post(f"/projects/{pid}/resources", json={"resource_ids_to_add": [inbox]})
    assert refused.status_code == 400
    created = served.client.post("/projects", json={"name": "New", "description": "d", "resource_ids": []})
    assert created.status_code == 201 and created.json()["name"] == "New"
    duplicate = served.client.post("/projects", json={"name": "New", "description": "d"})
    assert duplicate.status_code == 409 and duplicate.json()["id"] == created.json()["id"]
    worklists = served.client.get(f"/projects/{pid}/worklists").json()
    assert worklists[0]["worklist_name"] == "Brain MRI Study"


def test_download_serves_exact_bytes(served: Served) -> None:
    data = bytes(range(256)) * 41
    rid = upload(served, "vol.nii.gz", data, mimetype="application/nifti")
    reply = served.client.get(f"/resources/{rid}/file", headers={"accept": "application/octet-stream"})
    assert reply.status_code == 200 and reply.content == data
    assert reply.headers["content-length"] == str(len(data)) and "x-emulator-file" not in reply.headers
    assert served.client.get(f"/resources/{uuid.uuid4()}/file").status_code == 404


def test_api_key_is_the_apikey_header(served: Served) -> None:
    rid = served.emulator.add_resource("k.png", PNG).id
    assert httpx.get(f"{served.url}/resources/{rid}", headers={"apikey": KEY}).status_code == 200
    for headers in ({}, {"apikey": "wrong"}, {"Authorization": f"Bearer {KEY}"}):
        reply = httpx.get(f"{served.url}/resources/{rid}", headers=headers)
        assert reply.status_code == 401 and reply.json()["message"] == "Unauthorized"


def test_drop_after_receive_stores_then_drops_the_connection(served: Served) -> None:
    served.emulator.drop_after_receive = 1
    body, content_type = official_upload("lost.png", PNG)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(served.url + "/resources", content=body, headers={"apikey": KEY, "content-type": content_type})
    (stored,) = served.emulator.resources()
    assert stored.filename == "lost.png" and stored.data == PNG
    upload(served, "after.png")
    assert served.emulator.upload_posts == 2 and served.emulator.dropped == 1
    assert [r["filename"] for r in listed(served, filename="lost.png")] == ["lost.png"]


def test_volume_and_frame_segmentations_keep_their_bytes(served: Served) -> None:
    rid = upload(served, "vol.nii.gz", b"\x1f\x8b volume", mimetype="application/nifti")
    text = "text/plain; charset=utf-8"
    body, content_type = multipart(
        [
            ("file", b"\x1f\x8b seg", "vol_seg.nii.gz", "application/nifti"),
            ("source", "imported", None, text),
            ("segmentation_map", json.dumps({"1": "tumor"}), None, "application/json"),
        ]
    )
    reply = httpx.post(
        f"{served.url}/annotations/{rid}/segmentations/file",
        content=body,
        headers={"apikey": KEY, "content-type": content_type},
    )
    assert reply.status_code == 201 and len(reply.json()) == 1

    dto = [
        {"type": "segmentation", "identifier": "seg_2_2_2", "scope": "frame", "frame_index": 0, "source": "imported"}
    ]
    (aid,) = served.client.post(f"/annotations/{rid}/annotations", json=dto).json()
    mask = multipart([("file", PNG, "seg_2_2_2", "image/png")])
    reply = httpx.post(
        f"{served.url}/annotations/{rid}/annotations/{aid}/file",
        content=mask[0],
        headers={"apikey": KEY, "content-type": mask[1]},
    )
    assert reply.status_code == 201

    volume, frame = served.emulator.segmentations(rid)
    assert (volume.file, volume.class_map, volume.file_name) == (b"\x1f\x8b seg", {"1": "tumor"}, "vol_seg.nii.gz")
    assert (frame.file, frame.identifier, frame.frame_index) == (PNG, "seg_2_2_2", 0)
    found = served.client.post("/annotations/search", json={"resource_ids": [rid], "offset": "0", "limit": "5000"})
    assert [a["id"] for a in found.json()["data"]] == [volume.id, aid]
    assert served.client.get(f"/annotations/{rid}/annotations/{aid}/file").content == PNG


def test_channels_tags_and_delete(served: Served) -> None:
    first, second = upload(served, "c 1.png", channel="chan"), upload(served, "c2.png", channel="chan")
    channels = served.client.get("/resources/channels", params={"offset": 0, "limit": 5000}).json()["data"]
    (chan,) = channels
    assert chan["channel_name"] == "chan" and chan["resource_count"] == "2"
    assert [d["resource_file_name"] for d in chan["resource_data"]] == ["c%201.png", "c2.png"]
    assert served.client.put(f"/resources/{first}/tags", json={"tags": ["a", "b"]}).json()["tags"] == ["a", "b"]
    served.client.put("/resources/tags", json={"resource_ids": [first, second], "tags": ["z"]}).raise_for_status()
    assert {tuple(r.tags) for r in served.emulator.resources()} == {("z",)}
    served.client.delete("/resources", params={"resource_ids": f"{first},{second}"}).raise_for_status()
    assert listed(served) == []


def test_file_faults_missing_files_and_range_support() -> None:
    emulator = DatamintEmulator(faults=Faults(missing_files=1, range_support=True))
    gone, kept = emulator.add_resource("gone.png", PNG), emulator.add_resource("kept.png", PNG)
    with emulator.serve() as server, httpx.Client(base_url=emulator.base_url(server), headers={"apikey": KEY}) as c:
        missing = c.get(f"/resources/{gone.id}/file")
        assert (missing.status_code, missing.content) == (500, b"")
        part = c.get(f"/resources/{kept.id}/file", headers={"range": "bytes=8-15"})
        assert part.status_code == 206 and part.content == PNG[8:16]
        assert part.headers["content-range"] == f"bytes 8-15/{len(PNG)}"


def test_hostile_names_join_the_sample_dataset() -> None:
    emulator = DatamintEmulator(faults=Faults(hostile_names=True))
    names = [r.filename for r in emulator.resources()]
    assert "../../escape.png" in names and any("\x07" in n for n in names)


def test_sample_dataset_holds_real_images() -> None:
    emulator = DatamintEmulator(preload=3)
    png, dicom, nifti = (r.data for r in emulator.resources())
    assert png.startswith(b"\x89PNG") and dicom[128:132] == b"DICM" and nifti[:2] == b"\x1f\x8b"
    pydicom = pytest.importorskip("pydicom")
    nibabel = pytest.importorskip("nibabel")
    assert pydicom.dcmread(io.BytesIO(dicom)).Modality == "MR"
    assert nibabel.Nifti1Image.from_bytes(__import__("gzip").decompress(nifti)).shape == (8, 8, 4)
    image = pytest.importorskip("PIL.Image")
    assert image.open(io.BytesIO(png)).size[0] in (16, 24, 32)


def test_cli_reads_the_key_from_stdin_and_prints_the_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "neurofetch", "emulate", "datamint", "--port", "0", "--api-key-stdin", "--samples", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write("s3cret-key\n")
        proc.stdin.close()
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/resources", headers={"apikey": KEY}).status_code == 401
        reply = httpx.get(url + "/resources", headers={"apikey": "s3cret-key"}).json()
        assert reply["totalCount"] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
