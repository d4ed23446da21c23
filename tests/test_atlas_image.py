"""`neurofetch atlas-image` against the Allen Brain Map emulator: parameters, paging, re-runs, failures."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from starlette.requests import Request
from starlette.responses import Response

from neurofetch.emulators.allen.app import NOT_FOUND_PAGE, AllenEmulator
from neurofetch.emulators.allen.data import Record, Region
from neurofetch.emulators.allen.render import Look
from neurofetch.emulators.common import Faults
from tests.helpers import high_water_kib, run_cli, tree_files

DOWNLOADS = (
    "/api/v2/atlas_image_download/",
    "/api/v2/section_image_download/",
    "/api/v2/svg_download/",
    "/cgi-bin/imageservice",
)


@pytest.fixture
def allen() -> Iterator[AllenEmulator]:
    """The emulator, answering at most 50 rows per RMA query so that atlases take several pages."""
    emulator = AllenEmulator(page_size_cap=50)
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


def env_for(emulator: AllenEmulator, **extra: str) -> dict[str, str]:
    return {
        "NEUROFETCH_URL": emulator.url,
        "NEUROFETCH_SERVICE": "allen",  # type: ignore[attr-defined]
        **extra,
    }


def downloads(emulator: AllenEmulator) -> list[str]:
    return [e.path for e in emulator.log.entries() if e.path.startswith(DOWNLOADS)]


def download_queries(emulator: AllenEmulator, endpoint: str = "atlas_image_download") -> list[dict[str, str]]:
    return [
        {k: v[0] for k, v in parse_qs(urlsplit(u).query).items()}
        for u in emulator.urls
        if u.startswith(f"/api/v2/{endpoint}/")
    ]


def jpeg_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9", path
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


def name(record: Record, suffix: str) -> str:
    return f"{record['section_number']:04d}_{record['id']}_{suffix}"


def start_rows(emulator: AllenEmulator) -> list[int]:
    queries = [parse_qs(urlsplit(u).query)["criteria"][0] for u in emulator.urls if u.startswith("/api/v2/data/")]
    return sorted(int(m) for q in queries for m in re.findall(r"\[start_row\$eq(\d+)\]", q))


# ------------------------------------------------------------------------------------------- whole atlases


def test_whole_atlas_every_plate_the_right_size_and_a_rerun_downloads_nothing(
    allen: AllenEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plates = allen.atlas_images(1)
    command = ("--json", "atlas-image", "--atlas-images", "1", "--downsample", "4", "--annotation", "--out", "atlas")
    first = run_cli(*command, env=env_for(allen))
    assert first.code == 0, first.stderr
    assert first.json["counts"]["downloaded"] == 132 == len(plates)
    assert start_rows(allen) == [0, 50, 100]  # 132 plates, 50 rows per page
    folder = tmp_path / "atlas" / "atlas-1"
    assert sorted(tree_files(tmp_path / "atlas")) == sorted(f"atlas-1/{name(p, 'ds4_annot.jpg')}" for p in plates)
    for plate in plates:
        assert jpeg_size(folder / name(plate, "ds4_annot.jpg")) == allen.image_size(plate["id"], downsample=4)
    assert all(q == {"downsample": "4", "annotation": "true", "atlas": "1"} for q in download_queries(allen))
    records = json.loads((folder / "images.json").read_text())
    assert [r["id"] for r in records] == [p["id"] for p in plates]

    allen.log.clear()
    second = run_cli(*command, env=env_for(allen))
    assert second.code == 0, second.stderr
    assert downloads(allen) == []
    assert second.json["counts"] == {"skipped": 132}


def test_section_data_set_pages_and_svg_only_where_there_is_one(allen: AllenEmulator, tmp_path: Path) -> None:
    images = allen.section_images(69782969)
    result = run_cli(
        "atlas-image",
        "--section-data-set",
        "69782969",
        "--downsample",
        "6",
        "--svg",
        "--out",
        tmp_path,
        env=env_for(allen),
    )
    assert result.code == 0, result.stderr
    assert start_rows(allen) == [0, 50]  # 56 images
    folder = tmp_path / "section-data-set-69782969"
    assert sorted(p.name for p in folder.iterdir()) == sorted([name(r, "ds6.jpg") for r in images] + ["images.json"])
    for record in images:
        assert jpeg_size(folder / name(record, "ds6.jpg")) == allen.image_size(record["id"], downsample=6)
    assert len(download_queries(allen, "section_image_download")) == 56
    assert not any("svg_download" in path for path in downloads(allen))  # SectionImages have no SVG


def test_svg_annotations_beside_the_plates(allen: AllenEmulator, tmp_path: Path) -> None:
    plates = allen.atlas_images(2)
    result = run_cli(
        "atlas-image", "--atlas-images", "2", "--downsample", "6", "--svg", "--out", tmp_path, env=env_for(allen)
    )
    assert result.code == 0, result.stderr
    folder = tmp_path / "atlas-2"
    for plate in plates:
        svg = (folder / name(plate, "ds6.svg")).read_text()
        assert svg.startswith("<?xml") and "<svg" in svg and "structure_id=" in svg
        assert f'width="{math.ceil(plate["width"] / 64)}"' in svg
        assert jpeg_size(folder / name(plate, "ds6.jpg")) == allen.image_size(plate["id"], downsample=6)


def test_shards_split_the_images_between_them(allen: AllenEmulator, tmp_path: Path) -> None:
    args = ("atlas-image", "--atlas-images", "2", "--downsample", "6", "--out", tmp_path)
    assert run_cli(*args, "--shard", "1/2", env=env_for(allen)).code == 0
    half = set(tree_files(tmp_path))
    assert 0 < len(half) < 21
    assert run_cli(*args, "--shard", "2/2", env=env_for(allen)).code == 0
    assert len(tree_files(tmp_path)) == 21
    assert len(downloads(allen)) == 2 * 21  # each image fetched once (download + imageservice)


def test_dry_run_lists_the_files_and_downloads_nothing(allen: AllenEmulator, tmp_path: Path) -> None:
    out = tmp_path / "dry"
    result = run_cli(
        "--json",
        "atlas-image",
        "--atlas-images",
        "2",
        "--downsample",
        "5",
        "--dry-run",
        "--out",
        out,
        env=env_for(allen),
    )
    assert result.code == 0, result.stderr
    assert not out.exists() and downloads(allen) == []
    planned = {p["path"] for p in result.json["planned"] if p["action"] == "download"}
    assert planned == {f"atlas-2/{name(p, 'ds5.jpg')}" for p in allen.atlas_images(2)}


# --------------------------------------------------------------------------------------------- one image

PLATE = 20  # index of the plate of atlas 1 the single-image tests use


@pytest.mark.parametrize(
    ("args", "suffix", "size", "sent"),
    [
        (
            ["--left", "6000", "--top", "15000", "--width", "320", "--height", "240"],
            "ds0_l6000t15000w320h240",
            {"left": 6000, "top": 15000, "width": 320, "height": 240},
            {"left": "6000", "top": "15000", "width": "320", "height": "240"},
        ),
        (["--downsample", "5"], "ds5", {"downsample": 5}, {"downsample": "5"}),
        (["--downsample", "4", "--quality", "30"], "ds4_q30", {"downsample": 4}, {"downsample": "4", "quality": "30"}),
        (
            ["--downsample", "4", "--annotation"],
            "ds4_annot",
            {"downsample": 4},
            {"downsample": "4", "annotation": "true"},
        ),
        (
            ["--downsample", "4", "--annotation", "--atlas", "1"],
            "ds4_annot-a1",
            {"downsample": 4},
            {"downsample": "4", "annotation": "true", "atlas": "1"},
        ),
        (
            ["--downsample", "6", "--no-annotation"],
            "ds6",
            {"downsample": 6},
            {"downsample": "6", "annotation": "false"},
        ),
        (
            ["--downsample", "3", "--left", "4000", "--top", "12000", "--width", "300", "--height", "200"],
            "ds3_l4000t12000w300h200",
            {"downsample": 3, "left": 4000, "top": 12000, "width": 300, "height": 200},
            {"downsample": "3", "left": "4000", "top": "12000", "width": "300", "height": "200"},
        ),
    ],
)
def test_one_image_with_each_parameter(
    tmp_path: Path, args: list[str], suffix: str, size: dict[str, int], sent: dict[str, str]
) -> None:
    emulator = AllenEmulator()
    with emulator.serve() as server:
        plate = emulator.atlas_images(1)[PLATE]
        env = {"NEUROFETCH_URL": server.origin, "NEUROFETCH_SERVICE": "allen"}
        result = run_cli("atlas-image", str(plate["id"]), *args, "--out", tmp_path, env=env)
        assert result.code == 0, result.stderr
        assert download_queries(emulator) == [sent]
        imageservice = [u for u in emulator.urls if u.startswith("/cgi-bin/imageservice")]
    path = tmp_path / "images" / name(plate, f"{suffix}.jpg")
    assert jpeg_size(path) == emulator.image_size(plate["id"], **size)
    rendered = parse_qs(urlsplit(imageservice[0]).query)["path"][0].endswith("_rendered.aff")
    assert rendered == ("annot" in suffix)
    assert [r["id"] for r in json.loads((tmp_path / "images" / "images.json").read_text())] == [plate["id"]]


def test_parameter_sets_never_share_a_file(allen: AllenEmulator, tmp_path: Path) -> None:
    plate = allen.atlas_images(1)[PLATE]
    for args in (["--downsample", "5"], ["--downsample", "5", "--quality", "20"], ["--downsample", "6"]):
        assert run_cli("atlas-image", str(plate["id"]), *args, "--out", tmp_path, env=env_for(allen)).code == 0
    folder = tmp_path / "images"
    best, low = folder / name(plate, "ds5.jpg"), folder / name(plate, "ds5_q20.jpg")
    assert jpeg_size(best) == jpeg_size(low) == allen.image_size(plate["id"], downsample=5)
    assert low.stat().st_size < best.stat().st_size
    assert jpeg_size(folder / name(plate, "ds6.jpg")) == allen.image_size(plate["id"], downsample=6)


def test_records_of_earlier_runs_stay_in_images_json(allen: AllenEmulator, tmp_path: Path) -> None:
    first, second = allen.atlas_images(1)[30], allen.atlas_images(1)[3]
    for plate in (first, second):
        assert (
            run_cli("atlas-image", str(plate["id"]), "--downsample", "6", "--out", tmp_path, env=env_for(allen)).code
            == 0
        )
    records = json.loads((tmp_path / "images" / "images.json").read_text())
    assert [r["id"] for r in records] == [second["id"], first["id"]]  # by section number


# ---------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "101"], "--quality is a JPEG quality from 0 to 100, not 101"),
        (["--downsample", "-1"], "--downsample is the number of halvings, 0 or more, not -1"),
        (["--left", "1", "--top", "2", "--width", "3"], "missing --height"),
        (["--left", "1", "--top", "2", "--width", "0", "--height", "5"], "--width and --height"),
        (["--atlas", "1"], "add --annotation"),
        (["0"], "IMAGE_ID takes ids"),
    ],
)
def test_invalid_parameters_are_refused_before_any_request(
    allen: AllenEmulator, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli("atlas-image", "--atlas-images", "1", *args, "--out", tmp_path, env=env_for(allen))
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert allen.log.entries() == [] and not any(tmp_path.iterdir())


def test_nothing_asked_and_wrong_service_are_usage_errors(allen: AllenEmulator, tmp_path: Path) -> None:
    nothing = run_cli("atlas-image", "--out", tmp_path, env=env_for(allen))
    assert nothing.code == 2 and "nothing to download" in nothing.stderr
    loris = run_cli("--url", allen.url, "--service", "loris", "atlas-image", "1", env={})  # type: ignore[attr-defined]
    assert loris.code == 2 and "needs an allen profile" in loris.stderr
    assert len(loris.stderr.strip().splitlines()) == 1
    assert allen.log.entries() == []


def test_without_any_profile_the_public_service_is_used(tmp_path: Path) -> None:
    from neurofetch.settings import GlobalOptions, select_profile

    profile = select_profile(GlobalOptions(), {}, only_service="allen")
    assert (profile.service, profile.url) == ("allen", "https://api.brain-map.org")
    assert select_profile(GlobalOptions(url="http://x", service="allen"), {}, only_service="allen").url == "http://x"
    config = tmp_path / "c.yaml"
    config.write_text("default_profile: lab\nprofiles:\n  lab: {service: loris, url: http://h}\n")
    public = select_profile(GlobalOptions(config=str(config)), {}, only_service="allen")  # lab is not allen
    assert (public.service, public.url) == ("allen", "https://api.brain-map.org")
    result = run_cli("--config", config, "-p", "lab", "atlas-image", "100960224")
    assert result.code == 2 and "profile 'lab' is a loris profile" in result.stderr


def test_an_allen_profile_from_the_config_file(allen: AllenEmulator, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"default_profile: allen\nprofiles:\n  allen: {{service: allen, url: {allen.url}, jobs: 2}}\n")
    plate = allen.atlas_images(2)[0]
    result = run_cli("--config", config, "atlas-image", str(plate["id"]), "--downsample", "6", "--out", tmp_path / "o")
    assert result.code == 0, result.stderr
    assert jpeg_size(tmp_path / "o" / "images" / name(plate, "ds6.jpg")) == allen.image_size(plate["id"], downsample=6)


def test_unknown_id_among_valid_ones(allen: AllenEmulator, tmp_path: Path) -> None:
    good = [allen.atlas_images(1)[5], allen.atlas_images(1)[50]]
    result = run_cli(
        "--json",
        "atlas-image",
        str(good[0]["id"]),
        "123",
        str(good[1]["id"]),
        "--downsample",
        "6",
        "--out",
        tmp_path,
        env=env_for(allen),
    )
    assert result.code == 1
    assert result.json["failures"] == [{"item": "image 123", "error": "no AtlasImage has this id"}]
    assert sorted(tree_files(tmp_path)) == sorted(f"images/{name(p, 'ds6.jpg')}" for p in good)
    assert "failed: image 123: no AtlasImage has this id" in result.stderr


def test_unknown_atlas_or_section_data_set_is_a_failure(allen: AllenEmulator, tmp_path: Path) -> None:
    result = run_cli(
        "--json",
        "atlas-image",
        "--atlas-images",
        "77",
        "--section-data-set",
        "5",
        "--atlas-images",
        "2",
        "--downsample",
        "6",
        "--out",
        tmp_path,
        env=env_for(allen),
    )
    assert result.code == 1
    assert {f["item"] for f in result.json["failures"]} == {"atlas 77", "section data set 5"}
    assert "failed: atlas 77: no annotated plates; is the atlas id right?" in result.stderr
    assert len(tree_files(tmp_path)) == 21


def test_a_service_that_keeps_failing_exits_5(tmp_path: Path) -> None:
    emulator = AllenEmulator(faults=Faults(error_rate=1.0))
    with emulator.serve() as server:
        env = {"NEUROFETCH_URL": server.origin, "NEUROFETCH_SERVICE": "allen", "NEUROFETCH_RETRIES": "1"}
        result = run_cli("atlas-image", "--atlas-images", "1", "--out", tmp_path, env=env)
    assert result.code == 5
    assert "HTTP 503" in result.stderr and len(result.stderr.strip().splitlines()) == 1


class PickyEmulator(AllenEmulator):
    """One plate answers 404 on download; another comes back as a PNG labelled image/jpeg."""

    def __init__(self) -> None:
        super().__init__()
        plates = self.atlas_images(2)
        self.gone, self.png = plates[3]["id"], plates[7]["id"]

    def _download(self, request: Request, kind: str) -> Response:
        if request.path_params["image_id"] == str(self.gone):
            return Response(NOT_FOUND_PAGE, 404, media_type="text/html; charset=utf-8")
        return super()._download(request, kind)

    def _jpeg(self, record: Record, atlas: int | None, region: Region, quality: int, look: Look) -> bytes:
        body = super()._jpeg(record, atlas, region, quality, look)
        return b"\x89PNG\r\n\x1a\n" + body if record["id"] == self.png else body


def test_a_404_and_a_non_jpeg_fail_alone(tmp_path: Path) -> None:
    emulator = PickyEmulator()
    with emulator.serve() as server:
        env = {"NEUROFETCH_URL": server.origin, "NEUROFETCH_SERVICE": "allen", "NEUROFETCH_RETRIES": "1"}
        result = run_cli(
            "--json", "atlas-image", "--atlas-images", "2", "--downsample", "6", "--out", tmp_path, env=env
        )
    assert result.code == 1, result.stderr
    failures = {f["item"]: f["error"] for f in result.json["failures"]}
    plates = {p["id"]: p for p in emulator.atlas_images(2)}
    gone, png = (f"atlas-2/{name(plates[i], 'ds6.jpg')}" for i in (emulator.gone, emulator.png))
    assert set(failures) == {gone, png}
    assert "HTTP 404" in failures[gone] and "not a JPEG" in failures[png]
    files = {path for path in tree_files(tmp_path) if path.endswith(".jpg")}
    assert len(files) == 19 and gone not in files
    assert png not in files  # refused before it was renamed into place
    assert result.json["counts"]["downloaded"] == 19


def test_help_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "neurofetch", "atlas-image", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not loaded & {"httpx", "yaml", "tenacity", "starlette", "PIL"}


# ---------------------------------------------------------------------------------- the default: full resolution


def peak_memory_of_download(emulator: AllenEmulator, url: str, image_id: int, out: Path, *args: str) -> int:
    """`neurofetch atlas-image ID ARGS` in a child process; its peak resident memory in KiB."""
    with subprocess.Popen(
        [sys.executable, "-m", "neurofetch", "atlas-image", str(image_id), *args, "--out", str(out)],
        env={**os.environ, "NEUROFETCH_URL": url, "NEUROFETCH_SERVICE": "allen"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as child:
        peak = 0
        while child.poll() is None:
            peak = max(peak, high_water_kib(child.pid))
            time.sleep(0.02)
        assert child.returncode == 0, child.stderr.read() if child.stderr else ""
    return peak


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_default_full_resolution_download_is_streamed_to_disk(tmp_path: Path) -> None:
    emulator = AllenEmulator()
    plate = max(emulator.atlas_images(1), key=lambda p: p["width"] * p["height"])  # 91 megapixels
    with emulator.serve() as server:
        small = peak_memory_of_download(emulator, server.origin, plate["id"], tmp_path / "small", "--downsample", "6")
        full = peak_memory_of_download(emulator, server.origin, plate["id"], tmp_path / "full")
        sent = [u for u in emulator.urls if u.startswith(f"/api/v2/atlas_image_download/{plate['id']}")]
    path = tmp_path / "full" / "images" / name(plate, "ds0.jpg")
    size = path.stat().st_size
    assert sent[-1] == f"/api/v2/atlas_image_download/{plate['id']}"  # no parameter: the service's default
    assert jpeg_size(path) == (plate["width"], plate["height"]) == emulator.image_size(plate["id"])
    assert size > 25_000_000
    assert full - small < size / 1024 / 2, (small, full, size)  # a body held in memory would add all of it
