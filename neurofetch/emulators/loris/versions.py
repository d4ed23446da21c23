"""What differs between the LORIS API versions the emulator serves (reference/loris.md §1, §3, §5).

``v0.0.3-dev`` is the legacy openpreventad server (LORIS ≤ 21: PHP scripts behind Apache rewrite rules);
``v0.0.3`` (LORIS 23+) and ``v0.0.4-dev`` (24+) are served by the module API. The bodies below start from the
legacy ones in data.py and change what the later versions change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from neurofetch.emulators.loris.data import SITE_NAME, Candidate, ImageFile, VisitRecord

NO_VERSION = "You must specify a version of the API to use in the URL"
VERSION_SEGMENT = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+[^/]*")  # the module's version pattern
# md5("{}"): LORIS 22+ hashes json_encode() of a PSR-7 stream, which is always "{}" (§5 item 14).
CONSTANT_ETAG = "99914b932bd37a50b983c5e7c90ae93b"


@dataclass(frozen=True)
class ApiVersion:
    """One API version and the behaviour that comes with it."""

    name: str
    legacy: bool  # LORIS ≤ 21 scripts: no JSON content type, legacy errors, empty file ETags
    visit_group: str  # the visit Meta key of the cohort: Battery (≤ v0.0.3), Cohort (v0.0.4-dev)
    visit_project: bool  # the visit Meta has Project (22+)
    phantom_flag: bool  # image list entries carry IsPhantom (v0.0.4-dev)
    pscid_lookup: bool  # /candidates/<PSCID>/… works like /candidates/<CandID>/… (v0.0.4-dev)
    since: bool  # /projects/{p}/images honours ?since= (v0.0.4-dev)
    nifti_formats: bool = False  # …/images/{F}/format/nifti|bval|bvec|bidsjson (LORIS main, served as v0.0.4-dev)


VERSIONS = {
    "v0.0.3-dev": ApiVersion(
        "v0.0.3-dev",
        legacy=True,
        visit_group="Battery",
        visit_project=False,
        phantom_flag=False,
        pscid_lookup=False,
        since=False,
    ),
    "v0.0.3": ApiVersion(
        "v0.0.3",
        legacy=False,
        visit_group="Battery",
        visit_project=True,
        phantom_flag=False,
        pscid_lookup=False,
        since=False,
    ),
    "v0.0.4-dev": ApiVersion(
        "v0.0.4-dev",
        legacy=False,
        visit_group="Cohort",
        visit_project=True,
        phantom_flag=True,
        pscid_lookup=True,
        since=True,
        nifti_formats=True,
    ),
}
DEFAULT_VERSION = "v0.0.3-dev"


def api_version(name: str) -> ApiVersion:
    try:
        return VERSIONS[name]
    except KeyError:
        raise ValueError(f"unknown LORIS API version {name!r}; the emulator serves {', '.join(VERSIONS)}") from None


def candidate_row(cand: Candidate) -> dict[str, Any]:
    """One entry of ``GET /candidates`` in 22+: another column order, the site's name."""
    return {
        "CandID": cand.cand_id,
        "Project": cand.project,
        "PSCID": cand.pscid,
        "Site": cand.site,
        "EDC": cand.edc,
        "DoB": cand.dob,
        "Sex": cand.sex,
    }


def visit_body(version: ApiVersion, body: dict[str, Any], cand: Candidate, visit: VisitRecord) -> dict[str, Any]:
    meta = {
        "CandID": cand.cand_id,
        "Visit": visit.label,
        "Site": SITE_NAME,
        version.visit_group: body["Meta"]["Battery"],
    }
    if version.visit_project:
        meta["Project"] = cand.project
    return {**body, "Meta": meta}


def images_body(version: ApiVersion, body: dict[str, Any]) -> dict[str, Any]:
    if not version.phantom_flag:
        return body
    return {**body, "Files": [{**entry, "IsPhantom": False} for entry in body["Files"]]}


def qc_body(version: ApiVersion, body: dict[str, Any]) -> dict[str, Any]:
    """22+ turn the DB enum ``"true"|"false"`` of Selected into a boolean."""
    if version.legacy or body["Selected"] is None:
        return body
    return {**body, "Selected": body["Selected"] == "true"}


def file_etag(record: ImageFile, mtime: int) -> str:
    """22+: md5 of json_encode({filename, size, mtime}), unquoted."""
    import hashlib
    import json

    text = json.dumps({"filename": record.filename, "size": record.size, "mtime": mtime}, separators=(",", ":"))
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
