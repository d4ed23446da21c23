"""`mirror --bids` on a LORIS server without a BIDS export whose API serves each image's NIfTI conversion
(``…/images/{F}/format/nifti|bidsjson|bval|bvec``, LORIS main as API v0.0.4-dev): the MINC crawl's walk of
candidates and visits, and per session a BIDS folder neurofetch names itself (bids_formats.py).

Per image: its sidecar (``format/bidsjson``, read while the session is listed; it must be a JSON object), its
NIfTI and, for dwi, its bval/bvec. An image whose conversion the server does not have (404) is skipped with its
reason. The top-level files and the sessions' scans TSVs are neurofetch's own (the server has none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from neurofetch import __version__
from neurofetch.errors import HttpStatusError, ItemError, RemoteDataError, UnreachableError
from neurofetch.net.http import get_json, json_field
from neurofetch.services.loris.bids_formats import BidsImage, ListedImage, bids_label, session_images
from neurofetch.services.loris.source import LorisSource, _safe
from neurofetch.transfer.context import Context
from neurofetch.transfer.work import Document, Fetch, FileItem, Work
from neurofetch.urls import redact_url

DATASET_UNIT = "(dataset)"  # the shard that writes the top-level files
BIDS_VERSION = "1.8.0"
# API versions whose servers may have the format/nifti downloads: LORIS main serves them as v0.0.4-dev (a
# v0.0.3 server may be LORIS 23, which has none); an unknown, newer version is given the chance.
WITHOUT_NIFTI = ("v0.0.3-dev", "v0.0.3")
PARTICIPANTS_JSON = {
    "participant_id": {"Description": "sub- and the LORIS CandID"},
    "sex": {"Description": "sex as the LORIS candidate record gives it"},
}
SCANS_JSON = {"filename": {"Description": "path of the scan, relative to the session folder"}}


def serves_nifti(version: str | None) -> bool:
    return version not in WITHOUT_NIFTI


def _tsv(rows: Sequence[Sequence[str]]) -> bytes:
    clean = [[value.replace("\t", " ").replace("\n", " ") or "n/a" for value in row] for row in rows]
    return "".join("\t".join(row) + "\n" for row in clean).encode("utf-8")


def _text_document(parts: tuple[str, ...], data: bytes, unit: str | None = None) -> Document:
    return Document(parts, None, unit=unit, encoded=data)


class NiftiBids:
    """The NIfTI way of one `mirror --bids` run: the work the crawl's candidate and visit listings make."""

    def __init__(self, source: LorisSource, datatypes: Sequence[str], suffixes: Sequence[str]) -> None:
        self.source = source
        self.datatypes = datatypes
        self.suffixes = suffixes

    def top_level(self, records: list[dict[str, Any]]) -> list[Work]:
        """dataset_description.json and participants.tsv/.json of the candidates the crawl walks."""
        projects = sorted(self.source.projects_seen)
        description = {
            "Name": ", ".join(projects) if projects else "LORIS",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [
                {
                    "Name": "neurofetch",
                    "Version": __version__,
                    "Description": f"NIfTI conversions of LORIS images from {redact_url(self.source.base_url)}",
                }
            ],
        }
        rows = [("participant_id", "sex")] + [
            (f"sub-{bids_label(str(record['CandID']))}", str(record.get("Sex") or "")) for record in records
        ]
        return [
            Document(("dataset_description.json",), description, unit=DATASET_UNIT),
            _text_document(("participants.tsv",), _tsv(rows), DATASET_UNIT),
            Document(("participants.json",), PARTICIPANTS_JSON, unit=DATASET_UNIT),
        ]

    def visit_task(self, cand: str, visit: str) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            what = f"image list of {cand}/{visit}"
            if not bids_label(cand) or not bids_label(visit):
                ctx.control.fail(f"{cand}/{visit}", "no letter or digit in the candidate or visit for a BIDS label")
                return []
            url = self.source.url_of("candidates", cand, visit, "images")
            listing = await get_json(ctx.client, url, ctx.policy, what=what)
            listed = [
                ListedImage(
                    json_field(record, "Filename", str, what, url),
                    str(record.get("AcquisitionType") or ""),
                    str(record.get("OutputType") or ""),
                )
                for record in json_field(listing, "Files", list, what, url)
                if isinstance(record, dict)
            ]
            # A file name the MINC crawl would refuse is not asked for here either (one failed item).
            listed = [image for image in listed if _safe(ctx, f"{cand}/{visit}/{image.filename}", image.filename)]
            chosen = [image for image in session_images(listed) if self._selected(cand, visit, image)]
            found = await asyncio.gather(*(self._image_work(ctx, cand, visit, image) for image in chosen))
            work: list[Work] = [item for items in found if items is not None for item in items]
            kept = [image for image, items in zip(chosen, found, strict=True) if items is not None]
            if kept:
                sub, ses = bids_label(cand), bids_label(visit)
                stem = f"sub-{sub}_ses-{ses}_scans"
                names = [f"{image.datatype}/{image.stem(sub, ses)}.nii.gz" for image in kept]
                session = (f"sub-{sub}", f"ses-{ses}")
                work += [
                    _text_document((*session, f"{stem}.tsv"), _tsv([("filename",), *((n,) for n in names)])),
                    Document((*session, f"{stem}.json"), SCANS_JSON),
                ]
            return work

        return fetch

    def _selected(self, cand: str, visit: str, image: BidsImage) -> bool:
        ledger = self.source.selection.names.ledger
        if (self.datatypes and image.datatype not in self.datatypes) or (
            self.suffixes and image.suffix not in self.suffixes
        ):
            return False
        sub, ses = bids_label(cand), bids_label(visit)
        name = f"{image.stem(sub, ses)}.nii.gz"
        if not self.source.selection.names.accepts(name, (f"sub-{sub}", f"ses-{ses}", image.datatype, name)):
            return False
        ledger.hit("--datatype", image.datatype)
        ledger.hit("--suffix", image.suffix)
        return True

    async def _image_work(self, ctx: Context, cand: str, visit: str, image: BidsImage) -> list[Work] | None:
        """The files of one image; None when the server has no NIfTI of it or its sidecar is refused."""
        sub, ses = bids_label(cand), bids_label(visit)
        folder = (f"sub-{sub}", f"ses-{ses}", image.datatype)
        stem = image.stem(sub, ses)
        formats = [("nifti", ".nii.gz"), *([("bval", ".bval"), ("bvec", ".bvec")] if image.gradients else [])]
        meta = {"candid": cand, "visit": visit}
        files: list[Work] = [
            FileItem((*folder, stem + ext), self._format_url(cand, visit, image, name), meta=meta)
            for name, ext in formats
        ]
        sidecar = (*folder, f"{stem}.json")
        if all(ctx.is_complete(item.parts) for item in files if isinstance(item, FileItem)) and ctx.exists(sidecar):
            return files  # a finished image costs no request
        label = "/".join(sidecar)
        url = self._format_url(cand, visit, image, "bidsjson")
        try:
            body = await get_json(ctx.client, url, ctx.policy, what=f"BIDS sidecar {label}")
        except HttpStatusError as exc:
            if exc.status != 404:
                ctx.control.fail(label, str(exc))
                return None
            reason = f"skipped {'/'.join(folder)}/{stem}.nii.gz: the server has no NIfTI of {image.filename} (HTTP 404)"
            ctx.result.add("skipped")
            ctx.result.warnings.append(reason)
            ctx.reporter.finished(label, "skipped")
            return None
        except (RemoteDataError, ItemError) as exc:
            ctx.control.fail(label, str(exc))
            return None
        except UnreachableError as exc:  # this image only: the session's others go on
            ctx.control.unreachable(label, str(exc))
            return None
        if not isinstance(body, dict):
            ctx.control.fail(label, f"the BIDS sidecar is not a JSON object ({url})")
            return None
        return [Document(sidecar, body), *files]

    def _format_url(self, cand: str, visit: str, image: BidsImage, name: str) -> str:
        return self.source.url_of("candidates", cand, visit, "images", image.filename, "format", name)
