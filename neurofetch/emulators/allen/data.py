"""The Allen emulator's synthetic, deterministic dataset and the pictures it serves (reference/allen.md §2.4–2.6, §4).

Records carry the real field names. Counts follow the reference: atlas 1 ("Mouse, P56, Coronal")
has 509 AtlasImages of which 132 are annotated plates; atlas 2 has 21 plates among 84 images;
atlas 602630314 has 132 virtual planes; atlas 265297126 (human) has 12 plates among 36 images.
Section data set 69782969 holds 56 SectionImages, one of them the real fixture 69750516
(section 78, 14065×7297 px, 1.049 µm/px); section data set 100141599 holds 24.

Ids, sizes and the shuffle of ids against section numbers come from ``seed``; counts do not.
Full-resolution sizes are realistic (a mouse plate is about 11k×8k px, a human one 27k×34k);
the emulator renders only what a request asks for (allen_render.py), the full resolution included.
JPEGs and SVGs are drawn from the records: the same request always gets the same bytes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

# model → table name (RMA qualifies attributes as ``table.attribute``)
TABLES: dict[str, str] = {
    "Atlas": "atlases",
    "AtlasDataSet": "data_sets",
    "SectionDataSet": "data_sets",
    "AtlasImage": "sub_images",
    "SectionImage": "sub_images",
    "AlternateImage": "alternate_images",
    "GraphicGroupLabel": "graphic_group_labels",
    "StructureGraph": "structure_graphs",
    "Ontology": "ontologies",
    "Product": "products",
    "Gene": "genes",
    "PlaneOfSection": "plane_of_sections",
    "Treatment": "treatments",
    "Equalization": "equalizations",
}

# model → association → (target model, how): "fk:<field>" to-one by foreign key on the record,
# "rev:<field>" to-many by foreign key on the target, "link:<name>" to-many through a link table.
ASSOCIATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "Atlas": {
        "atlas_data_sets": ("AtlasDataSet", "link:atlas_data_sets"),
        "graphic_group_labels": ("GraphicGroupLabel", "link:atlas_groups"),
        "graphic_group_label": ("GraphicGroupLabel", "fk:graphic_group_label_id"),
        "structure_graph": ("StructureGraph", "fk:structure_graph_id"),
    },
    "AtlasDataSet": {
        "atlases": ("Atlas", "link:data_set_atlases"),
        "atlas_images": ("AtlasImage", "rev:data_set_id"),
        "sub_images": ("AtlasImage", "rev:data_set_id"),
        "section_images": ("AtlasImage", "rev:data_set_id"),
    },
    "AtlasImage": {
        "atlas_data_set": ("AtlasDataSet", "fk:data_set_id"),
        "data_set": ("AtlasDataSet", "fk:data_set_id"),
        "alternate_images": ("AlternateImage", "rev:sub_image_id"),
    },
    "SectionImage": {
        "section_data_set": ("SectionDataSet", "fk:data_set_id"),
        "data_set": ("SectionDataSet", "fk:data_set_id"),
        "alternate_images": ("AlternateImage", "rev:sub_image_id"),
    },
    "SectionDataSet": {
        "section_images": ("SectionImage", "rev:data_set_id"),
        "sub_images": ("SectionImage", "rev:data_set_id"),
        "products": ("Product", "link:products"),
        "genes": ("Gene", "link:genes"),
        "treatments": ("Treatment", "link:treatments"),
        "plane_of_section": ("PlaneOfSection", "fk:plane_of_section_id"),
        "equalization": ("Equalization", "rev:section_data_set_id"),
    },
    "Equalization": {"section_data_set": ("SectionDataSet", "fk:section_data_set_id")},
    "StructureGraph": {"ontology": ("Ontology", "fk:ontology_id")},
}

# Columns that exist for filtering but are always null and never serialised: a filter on
# ``atlas_data_set_id`` returns 0 rows on the real service (reference §2.3 pitfalls).
HIDDEN_NULL_COLUMNS: dict[str, frozenset[str]] = {"AtlasImage": frozenset({"atlas_data_set_id"})}


@dataclass(frozen=True)
class AtlasSpec:
    atlas_id: int
    name: str
    image_type: str
    graph: int
    groups: tuple[int, ...]
    data_set_id: int
    plates: int  # annotated images
    step: int  # sections per plate; the others are non-annotated Nissl sections
    dropped: int  # non-annotated sections missing from the series
    id_base: int
    plate_size: tuple[int, int]  # largest ROI, full-resolution px
    resolution: float
    tier_count: int
    slug: str  # goes into the annotated ("rendered") image path
    plane: int


ATLAS_SPECS: tuple[AtlasSpec, ...] = (
    AtlasSpec(
        1,
        "Mouse, P56, Coronal",
        "Atlas - Adult Mouse",
        1,
        (28, 159226751),
        100048576,
        132,
        4,
        19,
        100960000,
        (11400, 8000),
        1.049,
        7,
        "p56coronal",
        1,
    ),
    AtlasSpec(
        2,
        "Mouse, P56, Sagittal",
        "Atlas - Adult Mouse",
        1,
        (28, 159226751),
        100042147,
        21,
        4,
        0,
        100880000,
        (13200, 8000),
        1.049,
        7,
        "p56sagittal",
        2,
    ),
    AtlasSpec(
        602630314,
        "Adult Mouse, 3D Coronal",
        "Atlas - Adult Mouse",
        1,
        (28,),
        576985993,
        132,
        1,
        0,
        576988000,
        (11400, 8000),
        1.0,
        7,
        "ccf3d",
        1,
    ),
    AtlasSpec(
        265297126,
        "Human, 34 years, Cortex - Mod. Brodmann",
        "Atlas - Developing Human Brodmann",
        16,
        (31, 113753816, 141667008, 265297118),
        265297122,
        12,
        3,
        0,
        265297200,
        (27000, 34000),
        1.0,
        8,
        "humanbrodmann",
        1,
    ),
)
HOSTILE_ATLAS = AtlasSpec(
    999000001,
    "../../escape/Mouse, P56\\Coronal\u0000.jpg",
    "Atlas - Adult Mouse",
    1,
    (28,),
    999000002,
    3,
    1,
    0,
    999000100,
    (11400, 8000),
    1.049,
    7,
    "hostile",
    1,
)


@dataclass(frozen=True)
class SectionSetSpec:
    data_set_id: int
    images: int
    first_section: int
    step: int
    id_base: int
    size: tuple[int, int]
    plane: int
    gene: int
    product: int
    treatment: int
    specimen_id: int


SECTION_SET_SPECS: tuple[SectionSetSpec, ...] = (
    SectionSetSpec(69782969, 56, 6, 8, 69750480, (14065, 7297), 1, 11, 1, 2, 69119806),
    SectionSetSpec(100141599, 24, 2, 8, 100113000, (13400, 7900), 2, 12, 1, 2, 100052541),
)
FIXTURE_SECTION_IMAGE = {"id": 69750516, "section_number": 78, "image_width": 14065, "image_height": 7297}

GRAPHIC_GROUP_LABELS: dict[int, str] = {
    28: "Atlas - Adult Mouse - Structure Boundaries",
    159226751: "Atlas - Adult Mouse - Hemisphere Labels",
    31: "Atlas - Developing Human - Structure Boundaries",
    113753815: "Atlas - Developing Human - Gyral",
    113753816: "Atlas - Developing Human - Sulci",
    141667008: "Atlas - Developing Human - Labels",
    265297118: "Atlas - Developing Human - Modified Brodmann",
}


@dataclass
class Dataset:
    """All records by model and id, link tables, and the image paths the imageservice knows."""

    models: dict[str, dict[int, Record]] = field(default_factory=dict)
    links: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    # .aff path → (image id, atlas id whose annotation is drawn, or None for the plain image)
    paths: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    # (image id, atlas id) → .aff path of the image with that atlas's annotation drawn in
    rendered: dict[tuple[int, int], str] = field(default_factory=dict)

    def add(self, model: str, record: Record) -> Record:
        self.models.setdefault(model, {})[record["id"]] = record
        return record

    def link(self, name: str, key: int, value: int) -> None:
        self.links.setdefault(name, {}).setdefault(key, []).append(value)

    def image(self, image_id: int) -> tuple[str, Record] | None:
        for model in ("AtlasImage", "SectionImage"):
            record = self.models.get(model, {}).get(image_id)
            if record is not None:
                return model, record
        return None

    def equalization(self, record: Record) -> Record | None:
        """The channel ranges a SectionImage is shown with by default (none for atlas plates)."""
        return self.models.get("Equalization", {}).get(record["data_set_id"])

    def atlases_of_image(self, record: Record) -> list[int]:
        return list(self.links.get("data_set_atlases", {}).get(record["data_set_id"], []))


def rendered_path(path: str, slug: str) -> str:
    return f"{path[: -len('.aff')]}_{slug}_rendered.aff"


def build_dataset(seed: int = 0, *, hostile: bool = False) -> Dataset:
    data = Dataset()
    _add_vocabularies(data)
    for spec in ATLAS_SPECS + ((HOSTILE_ATLAS,) if hostile else ()):
        _add_atlas(data, spec, random.Random(f"{seed}:atlas:{spec.atlas_id}"))
    for sds in SECTION_SET_SPECS:
        _add_section_set(data, sds, random.Random(f"{seed}:sds:{sds.data_set_id}"))
    return data


def _add_vocabularies(data: Dataset) -> None:
    for gid, name in GRAPHIC_GROUP_LABELS.items():
        data.add("GraphicGroupLabel", {"id": gid, "name": name})
    data.add("Ontology", {"id": 1, "name": "Mouse", "abbreviation": "Mouse"})
    data.add("Ontology", {"id": 12, "name": "Developing Human", "abbreviation": "DevHumanBrain"})
    data.add("StructureGraph", {"id": 1, "name": "Mouse Brain Atlas", "description": None, "ontology_id": 1})
    data.add(
        "StructureGraph", {"id": 16, "name": "Developing Human Brain Atlas", "description": None, "ontology_id": 12}
    )
    data.add("PlaneOfSection", {"id": 1, "name": "coronal", "orientation_id": None})
    data.add("PlaneOfSection", {"id": 2, "name": "sagittal", "orientation_id": None})
    data.add("Product", {"id": 1, "name": "Mouse Brain", "abbreviation": "Mouse", "description": "ISH Data"})
    data.add("Gene", {"id": 11, "acronym": "Adora2a", "name": "adenosine A2a receptor", "entrez_id": 11540})
    data.add("Gene", {"id": 12, "acronym": "Gad1", "name": "glutamate decarboxylase 1", "entrez_id": 14415})
    data.add("Treatment", {"id": 1, "name": "NISSL"})
    data.add("Treatment", {"id": 2, "name": "ISH"})


def _add_atlas(data: Dataset, spec: AtlasSpec, rng: random.Random) -> None:
    data.add(
        "Atlas",
        {
            "graphic_group_label_id": spec.groups[0],
            "id": spec.atlas_id,
            "image_type": spec.image_type,
            "name": spec.name,
            "reference_space_id": 9 if spec.graph == 1 else 12,
            "specimen_id": 5756 + spec.graph,
            "structure_graph_id": spec.graph,
            "treatment_id": 1,
            "xyz_sort": None,
        },
    )
    for gid in spec.groups:
        data.link("atlas_groups", spec.atlas_id, gid)
    data.add(
        "AtlasDataSet",
        {
            "expression": False,
            "failed": False,
            "id": spec.data_set_id,
            "name": f"{spec.name} Atlas",
            "plane_of_section_id": spec.plane,
            "qc_date": None,
            "reference_space_id": 9,
            "section_thickness": 25.0,
            "specimen_id": 5756 + spec.graph,
            "storage_directory": f"/external/aibs/prod17/atlas_{spec.data_set_id}/",
            "type": "AtlasDataSet",
            "weight": 5000,
        },
    )
    data.link("atlas_data_sets", spec.atlas_id, spec.data_set_id)
    data.link("data_set_atlases", spec.data_set_id, spec.atlas_id)
    sections = list(range(1, spec.plates * spec.step + 1))
    plain = [s for s in sections if (s - 1) % spec.step]
    dropped = set(rng.sample(plain, spec.dropped))
    sections = [s for s in sections if s not in dropped]
    ids = [spec.id_base + 2 * i + 1 for i in range(len(sections))]
    rng.shuffle(ids)  # so ordering by id differs from ordering by section number
    for index, (section, image_id) in enumerate(zip(sections, ids, strict=True)):
        annotated = (section - 1) % spec.step == 0
        record = _atlas_image(spec, rng, image_id, section, index / max(1, len(sections) - 1), annotated)
        data.add("AtlasImage", record)
        data.paths[record["path"]] = (image_id, None)
        if annotated:
            alt_path = rendered_path(record["path"], spec.slug)
            data.paths[alt_path] = (image_id, spec.atlas_id)
            data.rendered[(image_id, spec.atlas_id)] = alt_path
            data.add(
                "AlternateImage",
                {"id": image_id + 1, "image_type": spec.image_type, "path": alt_path, "sub_image_id": image_id},
            )


def _plate_size(full: tuple[int, int], position: float, rng: random.Random) -> tuple[int, int]:
    # Sections are smaller at both ends of the brain than in the middle.
    scale = 0.55 + 0.45 * math.sin(math.pi * position)
    return (
        max(64, round(full[0] * scale * rng.uniform(0.97, 1.0))),
        max(64, round(full[1] * scale * rng.uniform(0.97, 1.0))),
    )


def _atlas_image(
    spec: AtlasSpec, rng: random.Random, image_id: int, section: int, position: float, annotated: bool
) -> Record:
    width, height = _plate_size(spec.plate_size, position, rng)
    x, y = rng.randint(300, 4000), rng.randint(0, 2) * (spec.plate_size[1] + 2500) + rng.randint(300, 1500)
    return _sub_image(
        image_id=image_id,
        data_set_id=spec.data_set_id,
        section=section,
        annotated=annotated,
        x=x,
        y=y,
        width=width,
        height=height,
        image_width=x + width + rng.randint(400, 3000),
        image_height=y + height + 2 * (spec.plate_size[1] + 2500),
        path=f"/external/aibs/prod17/{image_id:010d}/{image_id:010d}.aff",
        expression_path=None,
        resolution=spec.resolution,
        tier_count=spec.tier_count,
    )


def _sub_image(
    *,
    image_id: int,
    data_set_id: int,
    section: int,
    annotated: bool,
    x: int,
    y: int,
    width: int,
    height: int,
    image_width: int,
    image_height: int,
    path: str,
    expression_path: str | None,
    resolution: float,
    tier_count: int,
) -> Record:
    return {
        "annotated": annotated,
        "axes": None,
        "bits_per_component": 8,
        "data_set_id": data_set_id,
        "expression_path": expression_path,
        "failed": False,
        "height": height,
        "id": image_id,
        "image_height": image_height,
        "image_type": "Primary",
        "image_width": image_width,
        "isi_experiment_id": None,
        "lims1_id": image_id,
        "number_of_components": 3,
        "ophys_experiment_id": None,
        "path": path,
        "projection_function": None,
        "resolution": resolution,
        "section_number": section,
        "specimen_id": None,
        "structure_id": None,
        "tier_count": tier_count,
        "width": width,
        "x": x,
        "y": y,
    }


def _add_section_set(data: Dataset, spec: SectionSetSpec, rng: random.Random) -> None:
    data.add(
        "SectionDataSet",
        {
            "blue_channel": None,
            "delegate": False,
            "expression": True,
            "failed": False,
            "failed_facet": 734881840,
            "green_channel": None,
            "id": spec.data_set_id,
            "name": None,
            "plane_of_section_id": spec.plane,
            "qc_date": None,
            "red_channel": None,
            "reference_space_id": 10,
            "rnaseq_design_id": None,
            "section_thickness": 25.0,
            "specimen_id": spec.specimen_id,
            "sphinx_id": spec.data_set_id % 1000003,
            "storage_directory": f"/external/mouse/prod0/image_series_{spec.data_set_id}/",
            "weight": 5270,
        },
    )
    for name, value in (("products", spec.product), ("genes", spec.gene), ("treatments", spec.treatment)):
        data.link(name, spec.data_set_id, value)
    # keyed by the data set's id (one each), drawn apart from ``rng`` so that the images stay as they were
    bounds = random.Random(f"{spec.data_set_id}:equalization")
    data.add(
        "Equalization",
        {
            "id": spec.data_set_id,
            "section_data_set_id": spec.data_set_id,
            **{f"{c}_lower": bounds.randrange(0, 300) for c in ("red", "green", "blue")},
            **{f"{c}_upper": bounds.randrange(1500, 4096) for c in ("red", "green", "blue")},
        },
    )
    for index in range(spec.images):
        section = spec.first_section + spec.step * index
        image_id = spec.id_base + 4 * index
        width, height = _plate_size(spec.size, index / max(1, spec.images - 1), rng)
        if image_id == FIXTURE_SECTION_IMAGE["id"]:
            section, width, height = 78, FIXTURE_SECTION_IMAGE["image_width"], FIXTURE_SECTION_IMAGE["image_height"]
        directory = f"/external/mouse/prod0/image_series_{spec.data_set_id}"
        record = _sub_image(
            image_id=image_id,
            data_set_id=spec.data_set_id,
            section=section,
            annotated=False,
            x=0,
            y=0,
            width=width,
            height=height,
            image_width=width,
            image_height=height,
            path=f"{directory}/{image_id:010d}.aff",
            expression_path=f"{directory}/{image_id:010d}_expression.aff",
            resolution=1.049,
            tier_count=7,
        )
        data.add("SectionImage", record)
        data.paths[record["path"]] = data.paths[record["expression_path"]] = (image_id, None)


# ------------------------------------------------------------------------------------ rendered content

# (structure_id, fill colour, relative radius) of the drawn annotation, outermost first
STRUCTURES = (
    (997, "#FFFFFF", 1.0),
    (8, "#BFDAE3", 0.92),
    (567, "#B0F0FF", 0.8),
    (688, "#B0FFB8", 0.62),
    (1009, "#CCCCCC", 0.45),
    (343, "#FF7080", 0.32),
    (73, "#AAAAAA", 0.12),
)


@dataclass(frozen=True)
class Region:
    """What the imageservice renders: tier ``downsample``, origin in tier pixels, output size."""

    downsample: int
    column: int
    row: int
    width: int
    height: int


def render_svg(record: Record, groups: list[int], downsample: int) -> bytes:
    factor = 2**downsample
    width, height = math.ceil(record["width"] / factor), math.ceil(record["height"] / factor)
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
    ]
    for index, group in enumerate(groups):
        lines.append(f'<g id="{group}" graphic_group_label_id="{group}">')
        structures = STRUCTURES if index == 0 else STRUCTURES[:1]
        for order, (structure_id, colour, scale) in enumerate(structures, start=1):
            points = _ellipse_points(width / 2, height / 2, width / 2 * scale * 0.98, height / 2 * scale * 0.98)
            lines.append(
                f'<path id="{record["id"] * 100 + order}" structure_id="{structure_id}" order="{order}" '
                f'style="stroke:black;fill:{colour}" d="M {points} Z"/>'
            )
        lines.append("</g>")
    lines.append("</svg>")
    return ("\n".join(lines) + "\n").encode()


def _ellipse_points(cx: float, cy: float, rx: float, ry: float, count: int = 24) -> str:
    angles = (2 * math.pi * i / count for i in range(count))
    return " L ".join(f"{cx + rx * math.cos(a):.1f} {cy + ry * math.sin(a):.1f}" for a in angles)
