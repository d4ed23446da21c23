"""`neurofetch publish` and `neurofetch mirror` for a Datamint profile, against the emulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.datamint_support import datamint_server, env_for, mixed_study, png_bytes
from tests.helpers import run_cli, tree_files


@pytest.fixture
def datamint() -> Iterator[Any]:
    with datamint_server() as emulator:
        yield emulator


def file_gets(emulator: Any) -> int:
    return emulator.log.count(lambda e: e.method == "GET" and e.path.endswith("/file"))


def test_upload_publish_mirror_round_trip(datamint, tmp_path: Path) -> None:
    """The issue's "done when": a folder of DICOM series plus NIfTI volumes uploads, anonymized, in one
    command; the re-run sends nothing; `publish --channel` publishes them; `mirror` brings them back."""
    env = env_for(datamint)
    study = mixed_study(tmp_path)
    uploaded = run_cli("--json", "upload", study, "-r", "--channel", "ch1", env=env)
    assert uploaded.code == 0, uploaded.stderr
    ids = uploaded.json["resources"]
    assert all(datamint.resource(i).status == "inbox" for i in ids.values())
    assert run_cli("--json", "upload", study, "-r", "--channel", "ch1", env=env).json["counts"] == {
        "already_uploaded": len(ids)
    }

    published = run_cli("--json", "publish", "--channel", "ch1", env=env)
    assert published.code == 0, published.stderr
    assert published.json["counts"]["published"] == len(ids)
    assert all(datamint.resource(i).status == "published" for i in ids.values())
    again = run_cli("--json", "publish", "--channel", "ch1", env=env)
    assert again.code == 0 and again.json["counts"].get("published", 0) == 0
    assert again.json["counts"]["already_published"] == len(ids)

    dest = tmp_path / "mirror"
    mirrored = run_cli("--json", "mirror", dest, "--channel", "ch1", "--status", "published", env=env)
    assert mirrored.code == 0, mirrored.stderr
    expected = {f"ch1/{r.id}_{r.filename}": r.data for r in datamint.resources()}
    assert tree_files(dest) == expected
    record = json.loads((dest / "ch1" / f"{ids['study/anat/t1.nii.gz']}_t1.nii.gz.json").read_text())
    assert record["metadata"]["EchoTime"] == 0.03 and record["status"] == "published"
    gets = file_gets(datamint)
    rerun = run_cli("--json", "mirror", dest, "--channel", "ch1", "--verify", env=env)
    assert rerun.code == 0 and file_gets(datamint) == gets
    assert rerun.json["counts"]["verified"] == len(ids)


def test_publish_by_id_skips_published_and_names_unknown(datamint, tmp_path: Path) -> None:
    fresh = [datamint.add_resource(f"f{i}.png", png_bytes(), mimetype="image/png").id for i in range(2)]
    done = datamint.add_resource("old.png", png_bytes(), mimetype="image/png", published=True).id
    missing = str(uuid.uuid4())
    result = run_cli("--json", "publish", *fresh, done, missing, env=env_for(datamint))
    assert result.code == 1
    assert result.json["counts"] == {"published": 2, "already_published": 1}
    assert [f["item"] for f in result.json["failures"]] == [missing]
    assert all(datamint.resource(i).status == "published" for i in fresh)
    assert run_cli("publish", "not-an-id", env=env_for(datamint)).code == 2
    assert run_cli("publish", env=env_for(datamint)).code == 2


def test_publish_all_inbox_into_a_project(datamint) -> None:
    ids = [datamint.add_resource(f"f{i}.png", png_bytes(), mimetype="image/png").id for i in range(3)]
    unknown = run_cli("publish", "--all-inbox", "--project", "Nope", env=env_for(datamint))
    assert unknown.code == 2 and "Brain MRI Study" in unknown.stderr
    assert all(datamint.resource(i).status == "inbox" for i in ids)
    result = run_cli("--json", "publish", "--all-inbox", "--project", "Ultrasound Screening", env=env_for(datamint))
    assert result.code == 0, result.stderr
    assert result.json["counts"] == {"published": 3, "added_to_project": 3}
    assert set(datamint.project_named("Ultrasound Screening").resource_ids) == set(ids)
    assert run_cli("--json", "publish", "--all-inbox", env=env_for(datamint)).json["counts"] == {}


def test_mirror_filters(datamint, tmp_path: Path) -> None:
    def day(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)

    a = datamint.add_resource(
        "a.png", png_bytes(), mimetype="image/png", channel="c1", tags=["left"], created_at=day("2024-01-10")
    )
    b = datamint.add_resource(
        "b.dcm",
        b"DICM-ish bytes",
        mimetype="application/dicom",
        channel="c1",
        tags=["right"],
        project="Brain MRI Study",
        created_at=day("2024-02-10"),
    )
    c = datamint.add_resource(
        "c.png",
        png_bytes((4, 4)),
        mimetype="image/png",
        channel="c2",
        tags=["left"],
        published=True,
        created_at=day("2024-03-10"),
    )
    env = env_for(datamint)

    def mirrored(*args: str) -> set[str]:
        dest = tmp_path / uuid.uuid4().hex
        result = run_cli("mirror", dest, *args, env=env)
        assert result.code == 0, result.stderr
        return {Path(p).name.split("_", 1)[0] for p in tree_files(dest)}

    assert mirrored() == {a.id, b.id, c.id}
    assert mirrored("--channel", "c1") == {a.id, b.id}
    assert mirrored("--status", "inbox") == {a.id}
    assert mirrored("--tag", "left") == {a.id, c.id}
    assert mirrored("--project", "Brain MRI Study") == {b.id}
    assert mirrored("--mimetype", "application/dicom") == {b.id}
    assert mirrored("--from", "2024-02-01", "--to", "2024-03-01") == {b.id}
    assert mirrored("--include", "*.png", "--exclude", "c.*") == {a.id}
    bad = run_cli("mirror", tmp_path / "x", "--from", "last week", env=env)
    assert bad.code == 2 and "--from" in bad.stderr
    wrong_service = run_cli("mirror", tmp_path / "y", "--candidate", "123", env=env)
    assert wrong_service.code == 2


def test_mirror_pages_past_one_page(datamint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neurofetch.services.datamint import api as service

    monkeypatch.setattr(service, "PAGE_SIZE", 2)  # the emulator honours any page size
    records = [datamint.add_resource(f"r{i}.png", png_bytes((4 + i, 4)), mimetype="image/png") for i in range(5)]
    dest = tmp_path / "paged"
    result = run_cli("mirror", dest, env=env_for(datamint))
    assert result.code == 0, result.stderr
    assert tree_files(dest) == {f"Unknown/{r.id}_{r.filename}": r.data for r in records}
    offsets = [e.query for e in datamint.log.entries() if e.path == "/resources"]
    assert any("offset=4" in q for q in offsets)


def test_mirror_gets_every_page_from_a_server_that_caps_the_page_below_ours(tmp_path: Path) -> None:
    from neurofetch.emulators.common import Faults

    with datamint_server(faults=Faults(page_rows=3)) as capped:
        records = [capped.add_resource(f"r{i}.png", png_bytes((4 + i, 4)), mimetype="image/png") for i in range(10)]
        result = run_cli("mirror", tmp_path / "d", env=env_for(capped))
        pages = [e.query for e in capped.log.entries() if e.path == "/resources"]
    assert result.code == 0, result.stderr
    assert tree_files(tmp_path / "d") == {f"Unknown/{r.id}_{r.filename}": r.data for r in records}
    assert len(pages) == 4  # 3 + 3 + 3 + 1: the announced total reached, no page asked for beyond it


def test_mirror_goes_on_past_full_pages_whatever_total_the_server_announces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neurofetch.emulators.common import Faults
    from neurofetch.services.datamint import api as service

    monkeypatch.setattr(service, "PAGE_SIZE", 3)
    with datamint_server(faults=Faults(claimed_total=2)) as understated:
        records = [understated.add_resource(f"r{i}.png", png_bytes((4 + i, 4)), mimetype="image/png") for i in range(7)]
        result = run_cli("mirror", tmp_path / "d", env=env_for(understated))
    assert result.code == 0, result.stderr
    assert tree_files(tmp_path / "d") == {f"Unknown/{r.id}_{r.filename}": r.data for r in records}


def test_mirror_with_a_wrong_key_exits_3(datamint, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "d", env=env_for(datamint, key="nope-nope"))
    assert result.code == 3 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()  # nothing created before the service answered
    assert "nope-nope" not in result.stderr


def test_mirror_refuses_names_that_would_leave_dest(tmp_path: Path) -> None:
    from neurofetch.emulators.common import Faults

    with datamint_server(faults=Faults(hostile_names=True)) as hostile:
        dest = tmp_path / "inside" / "dest"
        result = run_cli("--json", "mirror", dest, env=env_for(hostile))
    assert result.code == 1
    assert result.json["failures"] and all("name" in f["error"] for f in result.json["failures"])
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(dest) and p != dest.parent]
    assert outside == []
