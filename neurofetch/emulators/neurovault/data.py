"""Synthetic, deterministic NeuroVault dataset for the emulator (reference/neurovault.md §4, §8.5).

Records keep their URLs as paths; the emulator makes them absolute per request, the way Django's
``build_absolute_uri`` does. Files are gzip-compressed NIfTI-1 volumes (emulators/formats.py), tiny or, with
``realistic_sizes``, on the MNI grids NeuroVault holds,
generated on first access and cached.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from neurofetch.emulators import formats

if TYPE_CHECKING:
    import numpy as np

DOI_OF_AGING_COLLECTION = "10.1016/j.neurobiolaging.2012.11.002"
ROLES = ("doi", "large", "quirky", "atlas", "nidm")  # then "generic" for every further collection

OWNERS = ((52, "tomtom"), (117, "mri_core"), (348, "cogneuro_lab"), (1021, "jdoe"), (2210, "pkowalski"))
SURNAMES = ("Smith", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Garcia", "Novak", "Haddad", "Chen", "Rossi")
JOURNALS = ("NeuroImage", "Nature Neuroscience", "Cerebral Cortex", "Human Brain Mapping", "Journal of Neuroscience")
TITLES = (
    "Neural correlates of response inhibition in adolescents",
    "Working memory load effects in healthy adults",
    "Face processing in the fusiform cortex",
    "Reward anticipation and striatal activity",
    "Motor sequence learning across sessions",
    "Meta-analysis of pain processing",
)
TASKS = (  # (Cognitive Atlas task, contrast, file stem)
    ("n-back task", "2-back > 0-back", "2back_vs_0back"),
    ("stop signal task", "failed stop > successful stop", "failedstop_vs_successstop"),
    ("emotional face recognition task", "faces > shapes", "faces_vs_shapes"),
    ("finger tapping task", "left hand > rest", "lefthand"),
    ("monetary incentive delay task", "gain anticipation > neutral", "gain_vs_neutral"),
    ("cue approach task", "high value go minus no go at probe", "highvalue_go_vs_nogo"),
    ("Stroop task", "incongruent > congruent", "incongruent_vs_congruent"),
)
MAP_TYPES = (
    ("Z map", 8),
    ("T map", 8),
    ("F map", 1),
    ("P map (given null hypothesis)", 1),
    ("univariate-beta map", 2),
    ("ROI/mask", 1),
    ("anatomical", 1),
    ("other", 1),
)
MODALITIES = (("fMRI-BOLD", 12), ("Structural MRI", 2), ("PET FDG", 1), ("Diffusion MRI", 1), ("fMRI-CBF", 1))
DESIGN_FIELDS = (
    "type_of_design",
    "number_of_imaging_runs",
    "number_of_experimental_units",
    "length_of_runs",
    "length_of_blocks",
    "length_of_trials",
    "optimization",
    "optimization_method",
    "subject_age_mean",
    "subject_age_min",
    "subject_age_max",
    "handedness",
    "proportion_male_subjects",
    "inclusion_exclusion_criteria",
    "number_of_rejected_subjects",
    "group_comparison",
    "group_description",
    "scanner_make",
    "scanner_model",
    "field_strength",
    "pulse_sequence",
    "parallel_imaging",
    "field_of_view",
    "matrix_size",
    "slice_thickness",
    "skip_distance",
    "acquisition_orientation",
    "order_of_acquisition",
    "repetition_time",
    "echo_time",
    "flip_angle",
    "software_package",
    "software_version",
    "order_of_preprocessing_operations",
    "quality_control",
    "used_b0_unwarping",
    "b0_unwarping_software",
    "used_slice_timing_correction",
    "slice_timing_correction_software",
    "used_motion_correction",
    "motion_correction_software",
    "motion_correction_reference",
    "motion_correction_metric",
    "motion_correction_interpolation",
    "used_motion_susceptibiity_correction",
    "used_intersubject_registration",
    "intersubject_registration_software",
    "intersubject_transformation_type",
    "nonlinear_transform_type",
    "transform_similarity_metric",
    "interpolation_method",
    "object_image_type",
    "functional_coregistered_to_structural",
    "functional_coregistration_method",
    "coordinate_space",
    "target_template_image",
    "target_resolution",
    "used_smoothing",
    "smoothing_type",
    "smoothing_fwhm",
    "resampled_voxel_size",
    "intrasubject_model_type",
    "intrasubject_estimation_type",
    "intrasubject_modeling_software",
    "hemodynamic_response_function",
    "used_temporal_derivatives",
    "used_dispersion_derivatives",
    "used_motion_regressors",
    "used_reaction_time_regressor",
    "used_orthogonalization",
    "orthogonalization_description",
    "used_high_pass_filter",
    "high_pass_filter_method",
    "autocorrelation_model",
    "group_model_type",
    "group_estimation_type",
    "group_modeling_software",
    "group_inference_type",
    "group_model_multilevel",
    "group_repeated_measures",
    "group_repeated_measures_method",
    "nutbrain_hunger_state",
    "nutbrain_food_viewing_conditions",
    "nutbrain_food_choice_type",
    "nutbrain_taste_conditions",
    "nutbrain_odor_conditions",
)
NUTBRAIN_IMAGE_FIELDS = (
    "age",
    "sex",
    "race",
    "ethnicity",
    "handedness",
    "BMI",
    "fat_percentage",
    "waist_hip_ratio",
    "mean_PDS_score",
    "tanner_stage",
    "days_since_menstruation",
    "hours_since_last_meal",
    "bis_bas_score",
    "spsrq_score",
    "bis11_score",
)
HOSTILE_FILENAMES = (
    "..\\..\\escape.nii.gz",
    "CON.nii.gz",
    "\x1b[31mred.nii.gz",
    ".hidden.nii.gz",
    "x" * 240 + ".nii.gz",
)
COLLIDING_FILENAMES = ("collide.nii.gz", "collide.nii.gz.part", "collide.nii.gz.json")  # a .part, a record
HOSTILE_NAMES = ("../../../etc/passwd", "/absolute/path.nii.gz", "NUL", "nul\x00byte.nii.gz", "a/../../b.nii.gz")


# ---------------------------------------------------------------------------------------------- NIfTI-1

INTENTS = {"Z map": 5, "T map": 3, "F map": 4}  # NIFTI_INTENT_ZSCORE / TTEST / FTEST


@dataclass(frozen=True)
class Volume:
    shape: tuple[int, ...]
    voxel_mm: float
    kind: str  # "stat", "p", "mask", "labels", "anatomical"
    intent: int = 0

    @property
    def dtype(self) -> str:
        return {"mask": "uint8", "labels": "int16"}.get(self.kind, "float32")


SHAPES = (((9, 11, 9), 20.0), ((8, 8, 8), 24.0), ((12, 14, 12), 15.0), ((8, 8, 8, 3), 24.0))


REALISTIC_SHAPES = (((91, 109, 91), 2.0), ((61, 73, 61), 3.0), ((53, 63, 46), 3.0), ((61, 73, 61, 3), 3.0))
MNI_ORIGIN = (-90.0, -126.0, -72.0)


def _voxels(volume: Volume, key: str) -> np.ndarray:
    """The volume's voxels (x, y, z[, t]): a blob at a place drawn from ``key``, inside a brain-shaped
    ellipsoid (zero outside, as masked group maps are), with noise."""
    import numpy as np

    seed = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8]
    rng = np.random.default_rng(int.from_bytes(seed, "big"))
    nx, ny, nz = volume.shape[:3]
    x, y, z = np.meshgrid(*(np.arange(n) / n for n in (nx, ny, nz)), indexing="ij")
    centre = rng.uniform(0.3, 0.7, 3)
    d2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
    blob = np.exp(-d2 * 18)
    brain = ((x - 0.5) / 0.45) ** 2 + ((y - 0.5) / 0.48) ** 2 + ((z - 0.5) / 0.45) ** 2 < 1.0
    noise = rng.standard_normal(volume.shape[:3])
    if volume.kind == "mask":
        values = (blob > 0.4).astype(float)
    elif volume.kind == "labels":
        values = 1 + (x * 2).astype(int) + 2 * (y * 2).astype(int) + 4 * (z * 2).astype(int)  # eight octants
    elif volume.kind == "p":
        values = np.clip(1.0 - blob + noise * 0.03, 0.0, 1.0)
    elif volume.kind == "anatomical":
        values = 600.0 * np.exp(-d2 * 4) + np.abs(noise) * 10
    else:
        values = rng.uniform(3.0, 8.0) * rng.choice((1, -1)) * blob + noise
    if len(volume.shape) > 3:
        values = values[..., None] + rng.standard_normal(volume.shape) * 0.5
        brain = brain[..., None]
    if volume.kind not in ("mask", "labels"):
        values = np.where(brain, values, 0.0)
    return values.astype(volume.dtype)


# ---------------------------------------------------------------------------------------------- records


@dataclass
class ImageEntry:
    record: dict[str, Any]  # serializer fields; URL fields hold paths; file_size is filled when rendered
    key: str  # the /media/images/<key>/ segment: collection id, or token when private
    filename: str
    volume: Volume
    http_scheme: bool = False  # some real records carry http:// URLs
    missing: bool = False  # file gone from disk: file_size 0 and the file answers 404

    @property
    def id(self) -> int:
        return int(self.record["id"])


@dataclass
class CollectionEntry:
    record: dict[str, Any]
    token: str | None = None  # set only for the private collection
    images: list[ImageEntry] = field(default_factory=list)
    nidm_packs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.record["id"])

    @property
    def key(self) -> str:
        return self.token or str(self.id)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _trm(task: str) -> str:
    return "trm_" + hashlib.sha1(task.encode()).hexdigest()[:13]


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in table], weights=[w for _, w in table])[0]


def _dedup(filename: str, used: set[str]) -> str:
    """NeuroVault's DoubleExtensionStorage: ``name.nii.gz``, ``name_1.nii.gz``, ``name_2.nii.gz``..."""
    stem, dot, ext = filename.partition(".")
    candidate, n = filename, 0
    while candidate in used:
        n += 1
        candidate = f"{stem}_{n}{dot}{ext}"
    used.add(candidate)
    return candidate


# ---------------------------------------------------------------------------------------------- dataset


class NeuroVaultData:
    """Public collections in ROLES order (then generic ones), plus one private collection reachable by token."""

    def __init__(
        self,
        *,
        seed: int = 0,
        collections: int = 6,
        large_images: int = 128,
        hostile_names: bool = False,
        missing_file: bool = False,
        missing_first: int = 0,
        colliding_names: bool = False,
        realistic_sizes: bool = False,
    ) -> None:
        """``realistic_sizes``: maps on the MNI grids NeuroVault holds (2 or 3 mm, 0.3–3 MB gzipped) instead of
        tiny ones; the records are the same either way."""
        if collections < 1:
            raise ValueError("collections must be at least 1")
        self._rng = random.Random(seed)
        self._clock = datetime(2014, 3, 1, tzinfo=timezone.utc)
        self._image_id = 1000 + self._rng.randint(0, 500)
        self._used_names: dict[str, set[str]] = {}
        self._used_dois: set[str] = set()
        self._created: dict[int, datetime] = {}
        self.large_images = large_images
        self.realistic_sizes = realistic_sizes
        self.extra_files: dict[tuple[str, str], bytes] = {}  # atlas label .xml files
        self.collections: list[CollectionEntry] = []
        cid = 35 + self._rng.randint(0, 20)
        for index in range(collections):
            role = ROLES[index] if index < len(ROLES) else "generic"
            entry = self._new_collection(cid, role)
            getattr(self, f"_fill_{role}")(entry)
            self.collections.append(entry)
            cid += self._rng.randint(3, 400)
        self.private = self._new_collection(cid, "private", token=self._token())
        self._fill_generic(self.private, count=2)
        self.collections.append(self.private)
        self._finish(hostile_names, missing_file, missing_first, colliding_names)
        self._cache: dict[int, bytes] = {}
        self._lock = threading.Lock()

    # lookups ------------------------------------------------------------------------------------

    @property
    def public(self) -> list[CollectionEntry]:
        return [c for c in self.collections if c.token is None]

    def collection(self, cid: int) -> CollectionEntry | None:
        return next((c for c in self.collections if c.id == cid), None)

    def collection_by_token(self, token: str) -> CollectionEntry | None:
        return next((c for c in self.collections if c.token == token), None)

    def image(self, iid: int) -> tuple[CollectionEntry, ImageEntry] | None:
        return self._images.get(iid)

    def file(self, key: str, filename: str) -> ImageEntry | None:
        return self._files.get((key, filename))

    def file_bytes(self, image: ImageEntry) -> bytes:
        with self._lock:
            if image.id not in self._cache:
                volume = image.volume
                self._cache[image.id] = formats.nifti1_gz(
                    volume.shape,
                    volume.dtype,
                    _voxels(volume, f"{image.id}:{image.filename}"),
                    voxel_mm=volume.voxel_mm,
                    origin=MNI_ORIGIN,
                    intent=volume.intent,
                    space=formats.NIFTI_SPACE_MNI,
                    description=b"neurofetch NeuroVault emulator",
                )
            return self._cache[image.id]

    # building -----------------------------------------------------------------------------------

    def _token(self) -> str:
        return "".join(self._rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8))

    def _tick(self, days: tuple[int, int]) -> datetime:
        self._clock += timedelta(
            days=self._rng.randint(*days),
            seconds=self._rng.randint(0, 86399),
            microseconds=self._rng.randint(0, 999999),
        )
        return self._clock

    def _doi(self, journal: str, year: int) -> str:
        slug = "".join(w[0] for w in journal.lower().split())
        doi = f"10.{self._rng.choice((1016, 1093, 1038, 1523))}/{slug}.{year}.{self._rng.randint(10, 999)}"
        return doi if doi not in self._used_dois else self._doi(journal, year)

    def _new_collection(self, cid: int, role: str, token: str | None = None) -> CollectionEntry:
        rng = self._rng
        added = self._tick((20, 120))
        self._created[cid] = added
        owner, owner_name = rng.choice(OWNERS)
        journal = rng.choice(JOURNALS)
        name = rng.choice(TITLES) + f" ({SURNAMES[cid % len(SURNAMES)]} et al.)"
        doi: str | None = self._doi(journal, added.year) if rng.random() < 0.6 else None
        if role == "doi":
            doi, journal, name = DOI_OF_AGING_COLLECTION, "Neurobiology of Aging", "Aging and default mode activity"
        elif role == "large":
            name = "Individual Brain Charting: single-subject contrast maps"
        elif role in ("quirky", "private"):
            doi = None
        if doi:
            self._used_dois.add(doi)
        path = f"/collections/{token or cid}/"
        record: dict[str, Any] = {
            "id": cid,
            "url": path,
            "download_url": path + "download",
            "name": name,
            "DOI": doi,
            "preprint_DOI": "10.1101/2019.12.11.873125" if role == "quirky" else None,
            "authors": ", ".join(
                f"{rng.choice('ABCDEFGHJKLMNPRST')}. {rng.choice(SURNAMES)}" for _ in range(rng.randint(2, 6))
            ),
            "paper_url": f"https://doi.org/{doi}" if doi else None,
            "journal_name": journal if doi else None,
            "description": f'Unthresholded group maps accompanying "{name}".',
            "full_dataset_url": f"https://openneuro.org/datasets/ds{rng.randint(1, 4999):06d}" if doi else None,
            "owner": owner,
            "owner_name": owner_name,
            "contributors": ",".join(n for _, n in rng.sample(OWNERS, rng.randint(0, 2)) if n != owner_name),
            "private": token is not None,
            "add_date": _iso(added),
            "modify_date": _iso(added + timedelta(days=rng.randint(0, 300), seconds=rng.randint(0, 86399))),
            "doi_add_date": _iso(added + timedelta(days=rng.randint(1, 90))) if doi else None,
            "number_of_images": 0,
            "publication_status": "published" if doi else None,
            "communities": [],
        }
        record.update(self._design(role))
        return CollectionEntry(record=record, token=token)

    def _design(self, role: str) -> dict[str, Any]:
        rng = self._rng
        design: dict[str, Any] = dict.fromkeys(DESIGN_FIELDS)
        make, model = rng.choice((("Siemens", "Prisma"), ("GE", "Discovery MR750"), ("Philips", "Achieva")))
        software, version = rng.choice((("SPM", "12"), ("FSL", "6.0.4"), ("AFNI", "20.3.01")))
        design.update(
            type_of_design=rng.choice(("blocked", "eventrelated", "hybridblockevent")),
            scanner_make=make,
            scanner_model=model,
            field_strength=3.0,
            repetition_time=float(rng.choice((720, 2000, 2500))),
            echo_time=30.0,
            flip_angle=float(rng.choice((52, 77, 90))),
            software_package=software,
            software_version=version,
            coordinate_space="MNI",
            target_template_image="GenericMNI",
            used_smoothing=True,
            smoothing_fwhm=float(rng.choice((4, 6, 8))),
            handedness="right",
            number_of_experimental_units=rng.randint(12, 120),
            subject_age_mean=round(rng.uniform(19, 72), 1),
            proportion_male_subjects=round(rng.uniform(0.3, 0.7), 2),
            group_comparison=False,
            group_model_type="regular",
            optimization=False,
        )
        if role == "quirky":
            design.update(software_package="None / Other", handedness="", pulse_sequence="N/A", scanner_model="None")
        return design

    def _add_image(
        self,
        coll: CollectionEntry,
        filename: str,
        *,
        name: str | None = None,
        image_type: str = "statistic_map",
        map_type: str | None = None,
        **extra: Any,
    ) -> ImageEntry:
        rng = self._rng
        http_scheme = bool(extra.pop("http_scheme", False))
        self._image_id += rng.choice((1, 1, 1, 2, 3, 7))
        iid = self._image_id
        stored = _dedup(filename, self._used_names.setdefault(coll.key, set()))
        added = self._created[coll.id] + timedelta(minutes=rng.randint(1, 600), microseconds=rng.randint(0, 999999))
        record: dict[str, Any] = {
            "id": iid,
            "url": f"/images/{iid}/",
            "file": quote(f"/media/images/{coll.key}/{stored}"),
            "collection": coll.record["url"],
            "collection_id": coll.id,
            "file_size": 0,
            "name": name or stored,
            "description": extra.pop("description", ""),
            "add_date": _iso(added),
            "modify_date": _iso(added + timedelta(days=rng.randint(0, 30), seconds=rng.randint(0, 86399))),
            "is_valid": True,
            "data_origin": "volume",
            "target_template_image": "GenericMNI",
            "subject_species": "homo sapiens",
            "figure": extra.pop("figure", None),
            "thumbnail": f"/media/images/{coll.key}/glass_brain_{iid}.jpg",
            "reduced_representation": f"/media/images/{coll.key}/transform_4mm_{iid}.npy",
            "surface_left_file": None,
            "surface_right_file": None,
            **dict.fromkeys(NUTBRAIN_IMAGE_FIELDS),
            "image_type": image_type,
        }
        if image_type != "atlas":
            record.update(self._statmap_fields(map_type or "Z map", extra.pop("modality", "fMRI-BOLD")))
        data = extra.pop("data", {})
        record.update(extra)
        record.update({k: v for k, v in data.items() if k not in record})  # the free-form `data` JSON field
        image = ImageEntry(record, coll.key, stored, self._volume(image_type, record.get("map_type")), http_scheme)
        coll.images.append(image)
        return image

    def _statmap_fields(self, map_type: str, modality: str) -> dict[str, Any]:
        rng = self._rng
        task, contrast, _ = rng.choice(TASKS)
        subjects = rng.randint(12, 120)
        return {
            "map_type": map_type,
            "analysis_level": "group",
            "is_thresholded": False,
            "perc_bad_voxels": rng.uniform(0, 80),
            "not_mni": False,
            "brain_coverage": rng.uniform(70, 99),
            "perc_voxels_outside": rng.uniform(0, 10),
            "number_of_subjects": subjects,
            "modality": modality,
            "statistic_parameters": float(subjects - 1) if map_type == "T map" else None,
            "smoothness_fwhm": rng.choice((None, 6.0, 8.0)),
            "contrast_definition": contrast,
            "contrast_definition_cogatlas": "",
            "cognitive_paradigm_cogatlas": task,
            "cognitive_paradigm_cogatlas_id": _trm(task),
            "cognitive_contrast_cogatlas": None,
            "cognitive_contrast_cogatlas_id": None,
            "cognitive_paradigm_description_url": f"https://www.cognitiveatlas.org/task/id/{_trm(task)}/",
            "cognitive_paradigm_short_description": None,
            "cognitive_paradigm_name": task,
        }

    def _volume(self, image_type: str, map_type: str | None) -> Volume:
        kind = {
            "ROI/mask": "mask",
            "parcellation": "labels",
            "anatomical": "anatomical",
            "P map (given null hypothesis)": "p",
        }.get(map_type or "", "stat")
        if image_type == "atlas":
            kind = "labels"
        shapes = SHAPES if map_type == "other" else SHAPES[:3]
        choice = self._rng.randrange(len(shapes))
        shape, voxel = (REALISTIC_SHAPES if self.realistic_sizes else SHAPES)[choice]
        return Volume(shape, voxel, kind, INTENTS.get(map_type or "", 0))

    # one filler per role ---------------------------------------------------------------------------

    def _fill_doi(self, coll: CollectionEntry) -> None:
        for n, map_type in enumerate(("Z map", "Z map", "T map", "ROI/mask"), start=1):
            self._add_image(
                coll,
                f"Fig{n}A_{'zstat' if map_type == 'Z map' else 'tstat'}{n}.nii.gz",
                map_type=map_type,
                figure=f"{n}A",
            )
        self._add_image(
            coll,
            "vbm_gm_age.nii.gz",
            name="VBM: grey matter ~ age",
            map_type="T map",
            modality="Structural MRI",
            figure="5",
        )

    def _fill_large(self, coll: CollectionEntry) -> None:
        for n in range(self.large_images):
            _task, contrast, stem = TASKS[n % len(TASKS)]
            subject = n // len(TASKS) + 1
            map_type = "univariate-beta map" if n % 5 == 4 else "Z map"
            self._add_image(
                coll,
                f"sub-{subject:02d}_{stem}_{'beta' if map_type != 'Z map' else 'zmap'}.nii.gz",
                name=f"sub-{subject:02d} {contrast}",
                map_type=map_type,
                analysis_level="single-subject",
                number_of_subjects=None,
            )

    def _fill_quirky(self, coll: CollectionEntry) -> None:
        """Names with spaces, ``_1`` suffixes, ``%`` and non-ASCII, "None"-like strings, extra keys, http URLs."""
        none_like: dict[str, Any] = {
            "cognitive_paradigm_cogatlas": "None / Other",
            "contrast_definition": "N/A",
            "analysis_level": None,
            "cognitive_paradigm_cogatlas_id": "None",
            "figure": "",
        }
        for _ in range(3):
            self._add_image(coll, "zstat1.nii.gz", http_scheme=True)
        self._add_image(coll, "con 0002 (left hand).nii.gz", map_type="univariate-beta map", **none_like)
        self._add_image(coll, "100%_overlap.nii.gz", map_type="ROI/mask", modality="Other", is_thresholded=True)
        self._add_image(
            coll,
            "café_β-map.nii.gz",
            map_type="other",
            not_mni=True,
            data={"custom_threshold": "p<0.001 uncorrected", "cluster_extent": 20, "scanner_site": "B"},
        )
        self._add_image(coll, "lost_upload.nii.gz", name="lost upload", map_type="T map")

    def _fill_atlas(self, coll: CollectionEntry) -> None:
        for stem, label in (("cortical_parcels", "Cortical parcels"), ("subcortical_parcels", "Subcortical nuclei")):
            image = self._add_image(
                coll,
                f"{stem}.nii.gz",
                name=label,
                image_type="atlas",
                label_description_file=f"/media/images/{coll.key}/{stem}.xml",
            )
            self.extra_files[(coll.key, f"{stem}.xml")] = _atlas_xml(label, image.filename)
        self._add_image(coll, "schaefer_like_100.nii.gz", map_type="parcellation")
        self._add_image(coll, "amygdala_mask.nii.gz", map_type="ROI/mask", modality="Structural MRI")

    def _fill_nidm(self, coll: CollectionEntry) -> None:
        for pack_id, pack in ((self._rng.randint(100, 900), "spm_analysis"), (self._rng.randint(901, 1800), "fsl_0")):
            statmaps = []
            for stat in ("TStatistic", "ZStatistic"):
                image = self._add_image(
                    coll,
                    f"{stat}.nii.gz",
                    image_type="NIDM results statistic map",
                    map_type=f"{stat[0]} map",
                    description=f"NIDM Results: {pack}.nidm.zip > {stat}.nii.gz",
                    nidm_results=f"/api/nidm_results/{pack_id}/",
                    nidm_results_ttl=f"/media/images/{coll.key}/{pack}.nidm/nidm.ttl",
                )
                statmaps.append(image.record["url"])
            coll.nidm_packs.append(
                {
                    "id": pack_id,
                    "url": f"/collections/{coll.key}/{pack}/",
                    "name": pack,
                    "description": "",
                    "collection": coll.record["url"],
                    "zip_file": f"/media/images/{coll.key}/{pack}.nidm.zip",
                    "ttl_file": f"/media/images/{coll.key}/{pack}.nidm/nidm.ttl",
                    "statmaps": statmaps,
                    "add_date": coll.record["add_date"],
                    "modify_date": coll.record["modify_date"],
                }
            )

    def _fill_generic(self, coll: CollectionEntry, count: int | None = None) -> None:
        rng = self._rng
        for n in range(1, (count or rng.randint(2, 12)) + 1):
            map_type = _weighted(rng, MAP_TYPES)
            prefix = {"Z map": "zstat", "T map": "spmT_000", "F map": "spmF_000"}.get(map_type, "map")
            self._add_image(
                coll,
                f"{prefix}{n}.nii.gz",
                map_type=map_type,
                modality=_weighted(rng, MODALITIES),
                is_thresholded=rng.random() < 0.15,
                not_mni=rng.random() < 0.1,
            )

    def _finish(self, hostile_names: bool, missing_file: bool, missing_first: int, colliding_names: bool) -> None:
        public = self.public
        quirky = public[2] if len(public) > 2 else public[-1]
        if hostile_names:
            for filename, name in zip(HOSTILE_FILENAMES, HOSTILE_NAMES, strict=True):
                self._add_image(quirky, filename, name=name, map_type="Z map")
        if colliding_names:  # names of a mirror's own files: a download in progress, an image record
            for filename in COLLIDING_FILENAMES:
                self._add_image(quirky, filename, map_type="Z map")
        if missing_file:
            lost = [i for i in quirky.images if i.filename == "lost_upload.nii.gz"]
            (lost or quirky.images[-1:])[0].missing = True
        for image in sorted((i for c in public for i in c.images), key=lambda i: i.id)[:missing_first]:
            image.missing = True
        for coll in self.collections:
            coll.record["number_of_images"] = len(coll.images) + len(coll.nidm_packs)
        self._images = {i.id: (c, i) for c in self.collections for i in c.images}
        self._files = {(i.key, i.filename): i for c in self.collections for i in c.images}


def _atlas_xml(label: str, image_file: str) -> bytes:
    regions = "".join(f'<label index="{n - 1}" x="0" y="0" z="0">Region {n}</label>\n' for n in range(1, 9))
    return (
        f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<atlas version="1.0">\n<header><name>{label}</name>'
        f"<type>Label</type><images><imagefile>/{image_file}</imagefile></images></header>\n"
        f"<data>\n{regions}</data>\n</atlas>\n"
    ).encode("latin-1")
