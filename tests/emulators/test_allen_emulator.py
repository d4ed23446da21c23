"""Contract of the Allen Brain Map API emulator against reference/allen.md (§2 RMA, §1 downloads, §5 checklist)."""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from neurofetch.emulators.allen.app import AllenEmulator
from neurofetch.emulators.common import Faults

ATLAS_QUERY = (
    "model::AtlasImage,rma::criteria,[annotated$eqtrue],atlas_data_set(atlases[id$eq{atlas}]),"
    "alternate_images[image_type$eq'Atlas - Adult Mouse'],"
    "rma::options[order$eq'sub_images.section_number'][num_rows$eq{rows}][start_row$eq{start}]"
)
SECTION_QUERY = (
    "model::SectionImage,rma::criteria,[data_set_id$eq{ds}],"
    "rma::options[order$eq'sub_images.section_number'][num_rows$eq{rows}][start_row$eq{start}]"
)
ENVELOPE_KEYS = {"success", "id", "start_row", "num_rows", "total_rows", "msg"}


@pytest.fixture(scope="module")
def emulator() -> AllenEmulator:
    return AllenEmulator()


@pytest.fixture(scope="module")
def client(emulator: AllenEmulator) -> Iterator[httpx.Client]:
    with emulator.serve() as server, httpx.Client(base_url=emulator.base_url(server), timeout=10) as client:
        yield client


def query(client: httpx.Client, criteria: str, **params: str) -> dict:
    response = client.get("/api/v2/data/query.json", params={"criteria": criteria, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS and body["success"] is True
    return body


def jpeg(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8" and response.content[-2:] == b"\xff\xd9"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and image.mode == "RGB"
    return image


# ------------------------------------------------------------------------------------------------ dataset


def test_dataset_counts_follow_the_reference(emulator: AllenEmulator) -> None:
    plates = emulator.atlas_images(1)
    assert len(plates) == 132 and all(p["annotated"] for p in plates)
    assert len(emulator.atlas_images(1, annotated=None)) == 509
    assert len(emulator.atlas_images(2)) == 21 and len(emulator.atlas_images(602630314)) == 132
    assert [p["section_number"] for p in plates] == sorted(p["section_number"] for p in plates)
    assert [p["id"] for p in plates] != sorted(p["id"] for p in plates)  # ordering matters
    assert {a["id"]: a["name"] for a in emulator.atlases()}[1] == "Mouse, P56, Coronal"
    fixture = emulator.image(69750516)
    assert fixture is not None
    assert (
        fixture["data_set_id"],
        fixture["section_number"],
        fixture["image_width"],
        fixture["image_height"],
        fixture["resolution"],
        fixture["tier_count"],
        fixture["image_type"],
    ) == (69782969, 78, 14065, 7297, 1.049, 7, "Primary")
    assert len(emulator.section_images(69782969)) == 56
    assert emulator.has_svg(plates[0]["id"]) and not emulator.has_svg(69750516)


def test_dataset_is_deterministic_and_seeded() -> None:
    assert AllenEmulator().atlas_images(1) == AllenEmulator().atlas_images(1)
    assert AllenEmulator(seed=1).atlas_images(1) != AllenEmulator().atlas_images(1)


# ---------------------------------------------------------------------------------------------------- RMA


def test_reference_atlas_query_lists_the_132_plates_in_section_order(
    emulator: AllenEmulator, client: httpx.Client
) -> None:
    # As printed in the docs: raw brackets and quotes, '+' for spaces, num_rows$eqall.
    url = (
        "/api/v2/data/query.json?criteria=model::AtlasImage,rma::criteria,[annotated$eqtrue],"
        "atlas_data_set(atlases[id$eq1]),alternate_images[image_type$eq'Atlas+-+Adult+Mouse'],"
        "rma::options[order$eq'sub_images.section_number'][num_rows$eqall]"
    )
    body = client.get(url).json()
    assert (body["success"], body["id"], body["start_row"], body["num_rows"], body["total_rows"]) == (
        True,
        0,
        0,
        132,
        132,
    )
    assert [r["id"] for r in body["msg"]] == [p["id"] for p in emulator.atlas_images(1)]
    record = body["msg"][0]
    for key in (
        "id",
        "x",
        "y",
        "width",
        "height",
        "image_width",
        "image_height",
        "section_number",
        "tier_count",
        "resolution",
        "annotated",
        "data_set_id",
        "path",
        "image_type",
    ):
        assert key in record
    assert record["x"] + record["width"] <= record["image_width"]


def test_allensdk_percent_encoded_pipe_query(emulator: AllenEmulator, client: httpx.Client) -> None:
    url = (
        "/api/v2/data/query.json?q=model::Atlas,rma::criteria,%5Bid$eq1%5D,rma::options%5Bonly$eqimage_type%5D,"
        "pipe::list%5Btype_name$is%27image_type%27%5D,model::AtlasImage,rma::criteria,%5Bannotated$eqtrue%5D,"
        "atlas_data_set(atlases%5Bid$eq1%5D),alternate_images%5Bimage_type$eq$type_name%5D,"
        "rma::options%5Bnum_rows$eq%27all%27%5D%5Border$eqsub_images.section_number%5D"
    )
    body = client.get(url).json()
    assert body["total_rows"] == 132
    assert [r["id"] for r in body["msg"]] == [p["id"] for p in emulator.atlas_images(1)]


def test_annotated_filter_matters_and_atlas_data_set_id_matches_nothing(client: httpx.Client) -> None:
    every = query(
        client, "model::AtlasImage,rma::criteria,atlas_data_set(atlases[id$eq1]),rma::options[num_rows$eq'all']"
    )
    assert every["total_rows"] == 509
    assert query(client, "model::AtlasImage,rma::criteria,[atlas_data_set_id$eq100048576]")["total_rows"] == 0


def test_paging_follows_start_row_and_num_rows_until_total_rows(emulator: AllenEmulator, client: httpx.Client) -> None:
    ids, start = [], 0
    while True:
        body = query(client, ATLAS_QUERY.format(atlas=1, rows=50, start=start))
        assert body["start_row"] == start and body["total_rows"] == 132
        assert body["num_rows"] == len(body["msg"]) == min(50, 132 - start)
        ids += [r["id"] for r in body["msg"]]
        start += body["num_rows"]
        if start >= body["total_rows"]:
            break
    assert ids == [p["id"] for p in emulator.atlas_images(1)]
    past_the_end = query(client, ATLAS_QUERY.format(atlas=1, rows=50, start=200))
    assert (past_the_end["num_rows"], past_the_end["msg"], past_the_end["total_rows"]) == (0, [], 132)


def test_url_parameter_paging_and_default_page_size(emulator: AllenEmulator, client: httpx.Client) -> None:
    criteria = "model::SectionImage,rma::criteria,[data_set_id$eq69782969]"
    body = query(client, criteria)
    assert (body["num_rows"], body["total_rows"]) == (50, 56)  # num_rows defaults to 50
    body = query(client, criteria, num_rows="10", start_row="50", order="sub_images.section_number")
    assert [r["id"] for r in body["msg"]] == [r["id"] for r in emulator.section_images(69782969)[50:56]]


def test_section_data_set_images_in_both_query_forms(emulator: AllenEmulator, client: httpx.Client) -> None:
    expected = [r["id"] for r in emulator.section_images(100141599)]
    body = query(client, SECTION_QUERY.format(ds=100141599, rows=1000, start=0))
    assert [r["id"] for r in body["msg"]] == expected and body["total_rows"] == 24
    response = client.get(
        "/api/v2/data/SectionImage/query.json",
        params={"criteria": "[data_set_id$eq100141599]", "order": "sub_images.section_number+desc", "num_rows": "all"},
    )
    assert [r["id"] for r in response.json()["msg"]] == expected[::-1]
    by_id = client.get("/api/v2/data/SectionDataSet/100141599.json", params={"include": "section_images"}).json()
    assert by_id["num_rows"] == 1 and [r["id"] for r in by_id["msg"][0]["section_images"]] == expected


def test_page_size_cap_applies_to_num_rows_all() -> None:
    emulator = AllenEmulator(page_size_cap=40)
    with emulator.serve() as server, httpx.Client(base_url=server.origin) as client:
        body = query(client, ATLAS_QUERY.format(atlas=1, rows="'all'", start=0))
        assert (body["num_rows"], body["total_rows"]) == (40, 132)


def test_count_false_reports_only_the_page(client: httpx.Client) -> None:
    body = query(
        client,
        "model::AtlasImage,rma::criteria,[annotated$eqtrue],atlas_data_set(atlases[id$eq1]),"
        "rma::options[num_rows$eq50][start_row$eq100][order$eq'sub_images.section_number']"
        "[count$eqfalse]",
    )
    assert (body["start_row"], body["num_rows"], body["total_rows"]) == (100, 32, 32)


def test_atlas_model_queries(client: httpx.Client) -> None:
    atlases = query(client, "model::Atlas,rma::options[num_rows$eq'all'][count$eqfalse]")["msg"]
    assert {a["id"] for a in atlases} == {1, 2, 602630314, 265297126}
    assert {"name", "image_type", "structure_graph_id", "graphic_group_label_id"} <= set(atlases[0])
    table = query(
        client,
        "model::Atlas,rma::criteria,[id$in1,602630314],structure_graph(ontology),"
        "graphic_group_labels,rma::include,structure_graph(ontology),graphic_group_labels,"
        "rma::options[only$eq'atlases.id,atlases.name,ontologies.id,structure_graphs.id,"
        "graphic_group_labels.id'][num_rows$eq'all']",
    )["msg"]
    assert table[0] == {
        "id": 1,
        "name": "Mouse, P56, Coronal",
        "structure_graph": {"id": 1, "ontology": {"id": 1}},
        "graphic_group_labels": [{"id": 28}, {"id": 159226751}],
    }
    human = query(
        client,
        "model::AtlasImage,rma::criteria,[annotated$eqtrue],atlas_data_set(atlases[id$eq265297126]),"
        "alternate_images[image_type$eq'Atlas - Developing Human Brodmann']",
    )
    assert human["total_rows"] == 12


@pytest.mark.parametrize(
    "criteria",
    [
        "model::AtlasImage,rma::criteria,[annotated$eqtrue",
        "model::NoSuchModel",
        "model::AtlasImage,rma::criteria,[no_such_column$eq1]",
        "model::AtlasImage,rma::criteria,[id$zz1]",
        "model::AtlasImage,rma::criteria,no_such_association[id$eq1]",
        "model::AtlasImage,rma::options[num_rows$eqmany]",
        "model::AtlasImage,rma::criteria,[id$eqabc]",
        "rma::criteria,[id$eq1]",
        "",
    ],
)
def test_malformed_criteria_answer_the_error_envelope(client: httpx.Client, criteria: str) -> None:
    response = client.get("/api/v2/data/query.json", params={"criteria": criteria})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == ENVELOPE_KEYS and body["success"] is False
    assert isinstance(body["msg"], str) and body["msg"]


def test_model_path_forms_report_errors_too(client: httpx.Client) -> None:
    response = client.get("/api/v2/data/SectionImage/query.json", params={"criteria": "[data_set_id$eq1"})
    assert response.status_code == 400 and response.json()["success"] is False
    assert client.get("/api/v2/data/NoSuchModel/1.json").json()["success"] is False
    assert client.get("/api/v2/data/Atlas/999.json").json()["msg"] == []


# ---------------------------------------------------------------------------------------------- downloads


def test_download_redirects_to_the_imageservice(emulator: AllenEmulator, client: httpx.Client) -> None:
    plate = emulator.atlas_images(1)[40]
    response = client.get(f"/api/v2/atlas_image_download/{plate['id']}", params={"downsample": 4, "quality": 80})
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.path == "/cgi-bin/imageservice"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params == {
        "mime": "1",
        "path": plate["path"],
        "left": str(plate["x"]),
        "top": str(plate["y"]),
        "width": str(math.ceil(plate["width"] / 16)),
        "height": str(math.ceil(plate["height"] / 16)),
        "downsample": "4",
        "quality": "80",
    }
    annotated = client.get(
        f"/api/v2/atlas_image_download/{plate['id']}", params={"downsample": 4, "annotation": "true", "atlas": 1}
    )
    assert parse_qs(urlsplit(annotated.headers["location"]).query)["path"][0].endswith("_rendered.aff")


@pytest.mark.parametrize("downsample", [4, 5, 6])
def test_jpeg_size_follows_downsample(emulator: AllenEmulator, client: httpx.Client, downsample: int) -> None:
    plate = emulator.atlas_images(1)[66]
    response = client.get(
        f"/api/v2/atlas_image_download/{plate['id']}",
        params={"downsample": downsample, "annotation": "true", "atlas": 1},
        follow_redirects=True,
    )
    factor = 2**downsample
    assert jpeg(response).size == (math.ceil(plate["width"] / factor), math.ceil(plate["height"] / factor))
    assert jpeg(response).size == emulator.image_size(plate["id"], downsample=downsample)


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"left": 6174, "top": 2282, "width": 300, "height": 200}, (300, 200)),
        ({"left": 0, "top": 0, "width": 120, "height": 90, "downsample": 3}, (120, 90)),
        ({"left": 14000, "top": 7200, "width": 500, "height": 500}, (65, 97)),  # clipped to 14065×7297
        ({"downsample": 5}, (440, 229)),
        ({"downsample": 12}, (220, 115)),  # clamped to tier_count - 1 = 6
    ],
)
def test_jpeg_size_follows_the_region(
    emulator: AllenEmulator, client: httpx.Client, params: dict, size: tuple[int, int]
) -> None:
    response = client.get("/api/v2/section_image_download/69750516", params=params, follow_redirects=True)
    assert jpeg(response).size == size == emulator.image_size(69750516, **params)


def test_image_download_takes_any_sub_image_and_endpoints_check_the_kind(
    emulator: AllenEmulator, client: httpx.Client
) -> None:
    plate_id = emulator.atlas_images(2)[0]["id"]
    for url in (f"/api/v2/image_download/{plate_id}", "/api/v2/image_download/69750516"):
        assert client.get(url, params={"downsample": 6}).status_code == 302
    assert client.get("/api/v2/atlas_image_download/69750516").status_code == 404
    assert client.get(f"/api/v2/section_image_download/{plate_id}").status_code == 404


def test_same_request_same_bytes_and_quality_changes_size(emulator: AllenEmulator, client: httpx.Client) -> None:
    url = f"/api/v2/atlas_image_download/{emulator.atlas_images(1)[10]['id']}"
    first = client.get(url, params={"downsample": 5}, follow_redirects=True).content
    assert client.get(url, params={"downsample": 5}, follow_redirects=True).content == first
    low = client.get(url, params={"downsample": 5, "quality": 20}, follow_redirects=True).content
    assert len(low) < len(first)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v2/atlas_image_download/-1",
        "/api/v2/atlas_image_download/123",
        "/api/v2/section_image_download/abc",
        "/api/v2/svg_download/1",
        "/cgi-bin/imageservice?mime=1&path=/external/nope.aff",
    ],
)
def test_unknown_ids_answer_404_html(client: httpx.Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html") and b"doesn't exist" in response.content


@pytest.mark.parametrize("params", [{"downsample": "x"}, {"left": "1.5"}, {"left": 999999, "top": 0}])
def test_bad_parameters_answer_400(client: httpx.Client, params: dict) -> None:
    response = client.get("/api/v2/section_image_download/69750516", params=params, follow_redirects=True)
    assert response.status_code == 400


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_whole_section_at_full_resolution(emulator: AllenEmulator, client: httpx.Client) -> None:
    response = client.get("/api/v2/section_image_download/69750516", follow_redirects=True)
    assert response.status_code == 200 and len(response.content) > 5_000_000
    assert jpeg(response).size == (14065, 7297) == emulator.image_size(69750516)


def test_a_27_megapixel_plate_renders_in_well_under_a_second(emulator: AllenEmulator) -> None:
    from neurofetch.emulators.allen.data import Region
    from neurofetch.emulators.allen.render import render_jpeg

    record = emulator.image(69750516)
    assert record is not None
    render_jpeg(record, None, Region(0, 0, 0, 64, 64), 100)  # the grain tile and palette, made once
    started = time.perf_counter()
    body = render_jpeg(record, None, Region(0, 0, 0, 6000, 4500), 100)
    assert time.perf_counter() - started < 1.5 and body[:2] == b"\xff\xd8"


def colours(response: httpx.Response) -> tuple[float, ...]:
    """The picture's mean red, green and blue."""
    from PIL import ImageStat

    assert response.status_code == 200, response.text
    return tuple(round(v, 1) for v in ImageStat.Stat(jpeg(response).convert("RGB")).mean)


def test_view_range_colormap_and_the_equalization_change_the_picture(client: httpx.Client) -> None:
    url = "/api/v2/section_image_download/69750516"

    def get(**params: object) -> httpx.Response:
        return client.get(url, params={"downsample": 5, **params}, follow_redirects=True)

    query = (
        "model::Equalization,rma::criteria,section_data_set(section_images[id$in69750516]),"
        "rma::options[num_rows$eq'all'][count$eqfalse]"
        "[only$eq'blue_lower,blue_upper,red_lower,red_upper,green_lower,green_upper']"
    )
    (eq,) = client.get("/api/v2/data/query.json", params={"q": query}).json()["msg"]
    equalized = [
        eq["red_lower"],
        eq["red_upper"],
        eq["green_lower"],
        eq["green_upper"],
        eq["blue_lower"],
        eq["blue_upper"],
    ]
    default = get()
    assert default.content == get(range=",".join(map(str, equalized))).content  # the Equalization is the default
    looks = {
        "default": colours(default),
        "full range": colours(get(range="0,4095,0,4095,0,4095")),
        "red and blue swapped": colours(
            get(range=",".join(map(str, [*equalized[4:], *equalized[2:4], *equalized[:2]])))
        ),
        "expression": colours(get(view="expression")),
        "projection": colours(get(view="projection")),
        "jet": colours(get(colormap="jet")),
        "hotmetal": colours(get(colormap="0.5,0,0,256,1")),
    }
    assert len(set(looks.values())) == len(looks), looks
    assert colours(get(expression="true")) == looks["expression"]
    assert colours(get(projection="true")) == looks["projection"]
    assert colours(get(colormap="0.5,0,0,256,2")) == looks["jet"]
    location = client.get(url, params={"view": "expression"}).headers["location"]
    assert "_expression.aff" in location
    for bad in (
        {"range": "0,4095,0,4095"},
        {"range": "9,1,0,4095,0,4095"},
        {"view": "sideways"},
        {"colormap": "rainbow"},
    ):
        assert get(**bad).status_code == 400, bad


def test_svg_for_annotated_plates(emulator: AllenEmulator, client: httpx.Client) -> None:
    plate = emulator.atlas_images(1)[5]
    response = client.get(f"/api/v2/svg_download/{plate['id']}", params={"groups": "28", "downsample": 4})
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert f'filename="{plate["id"]}.svg"' in response.headers["content-disposition"]
    text = response.text
    assert f'width="{math.ceil(plate["width"] / 16)}"' in text
    assert re.search(r'<path [^>]*structure_id="\d+"', text) and 'graphic_group_label_id="159226751"' not in text
    every_group = client.get(f"/api/v2/svg/{plate['id']}").text
    assert 'graphic_group_label_id="159226751"' in every_group
    plain = emulator.atlas_images(1, annotated=False)[0]
    assert client.get(f"/api/v2/svg/{plain['id']}").status_code == 404
    assert client.get("/api/v2/svg_download/69750516").status_code == 404


# ------------------------------------------------------------------------------------------------- faults


def test_fault_knobs() -> None:
    emulator = AllenEmulator(faults=Faults(missing_files=1, range_support=True, hostile_names=True))
    missing = emulator.missing_image_ids
    assert len(missing & {p["id"] for p in emulator.atlas_images(1)}) == 1
    assert any(".." in a["name"] for a in emulator.atlases())
    plate = next(p for p in emulator.atlas_images(1) if p["id"] not in missing)
    with emulator.serve() as server, httpx.Client(base_url=server.origin, follow_redirects=True) as client:
        failed = client.get(f"/api/v2/image_download/{min(missing)}")
        assert (failed.status_code, failed.content) == (500, b"")
        url = f"/api/v2/atlas_image_download/{plate['id']}?downsample=5"
        whole = client.get(url).content
        part = client.get(url, headers={"Range": "bytes=100-"})
        assert part.status_code == 206 and part.content == whole[100:]


def test_truncated_bodies_and_errors_come_from_the_middleware() -> None:
    emulator = AllenEmulator(faults=Faults(truncate_rate=1.0))
    with emulator.serve() as server, httpx.Client(base_url=server.origin, follow_redirects=True) as client:
        assert client.get("/api/v2/data/query.json", params={"criteria": "model::Atlas"}).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/api/v2/section_image_download/69750516", params={"downsample": 5})
    emulator = AllenEmulator(faults=Faults(error_rate=1.0, retry_after=2))
    with emulator.serve() as server:
        response = httpx.get(f"{server.origin}/api/v2/data/query.json?criteria=model::Atlas")
        assert response.status_code == 503 and response.headers["retry-after"] == "2"


def test_request_urls_are_recorded(emulator: AllenEmulator, client: httpx.Client) -> None:
    client.get("/api/v2/data/query.json", params={"criteria": "model::Atlas", "num_rows": "3"})
    assert emulator.urls[-1].startswith("/api/v2/data/query.json?criteria=model%3A%3AAtlas")
    assert emulator.log.entries()[-1].path == "/api/v2/data/query.json"


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_prints_the_base_url_and_serves() -> None:
    code = "from neurofetch.cli.emulate import emulate_app; emulate_app()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "allen", "--port", "0", "--page-size-cap", "7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        body = httpx.get(
            f"{url}/api/v2/data/query.json", params={"criteria": ATLAS_QUERY.format(atlas=1, rows="all", start=0)}
        ).json()
        assert (body["num_rows"], body["total_rows"]) == (7, 132)
    finally:
        process.terminate()
        process.wait(timeout=10)
