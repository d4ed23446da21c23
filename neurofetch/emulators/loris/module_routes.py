"""``/candidates/**`` as the LORIS module API serves it (v0.0.3 on LORIS 23+, v0.0.4-dev on 24+).

Against the legacy scripts: one router for every path (JSON 404 instead of Apache's page, one trailing slash
stripped), ``application/json`` everywhere, the 22+ error strings, the constant ETag of JSON endpoints (and the
304 it causes), md5 file ETags, 404 for a listed file missing on disk, PSCIDs in place of CandIDs (v0.0.4-dev).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from neurofetch.emulators.loris import versions
from neurofetch.emulators.loris.data import (
    Candidate,
    ImageFile,
    LorisDataset,
    candidate_json,
    images_json,
    qc_json,
    visit_json,
)
from neurofetch.emulators.loris.versions import CONSTANT_ETAG, ApiVersion

ModuleResponse = Callable[..., Response]
FileResponse = Callable[[ImageFile, Request], Response]
FormatResponse = Callable[[ImageFile, str, Request], Response]


class ModuleCandidates:
    """GET handlers of ``/candidates/**`` for one 22+ API version."""

    def __init__(
        self,
        version: ApiVersion,
        dataset: LorisDataset,
        respond: ModuleResponse,
        send_file: FileResponse,
        listed: Callable[[list[Any]], list[Any]],
        send_format: FormatResponse | None = None,
    ) -> None:
        self.version = version
        self.dataset = dataset
        self._respond = respond
        self._send_file = send_file
        self._listed = listed
        self._send_format = send_format if version.nifti_formats else None

    def get(self, parts: list[str], request: Request, forbidden: set[str]) -> Response:
        """``parts``: the path segments after ``candidates``."""
        if not parts:
            rows = [versions.candidate_row(c) for c in self.dataset.candidates]
            return self._json(request, {"Candidates": self._listed(rows)})
        cand = self._candidate(parts[0])
        if cand is None:
            return self._respond(404, {"error": "Candidate not found"})
        if cand.cand_id in forbidden:
            return self._respond(403, {"error": "Permission denied"})
        if len(parts) == 1:
            body = candidate_json(cand)
            return self._json(request, {**body, "Visits": self._listed(body["Visits"])})
        visit = cand.visit(parts[1])
        if visit is None:
            return self._respond(404, {"error": "Visit not found"})
        rest = parts[2:]
        if not rest:
            return self._json(request, versions.visit_body(self.version, visit_json(cand, visit), cand, visit))
        if rest[0] != "images" or not self._image_route(rest[2:]):
            return self._respond(404, {"error": "not found"})
        if len(rest) == 1:
            body = versions.images_body(self.version, images_json(cand, visit))
            return self._json(request, {**body, "Files": self._listed(body["Files"])})
        record = self.dataset.file(cand.cand_id, visit.label, rest[1])
        if record is None:
            return self._respond(404, {"error": f"{rest[1]} not found."})
        if len(rest) == 3:
            return self._json(request, versions.qc_body(self.version, qc_json(record)))
        if len(rest) == 4 and self._send_format is not None:
            return self._send_format(record, rest[3], request)
        return self._send_file(record, request)

    def _image_route(self, below: list[str]) -> bool:
        """Whether the path below ``images/{F}`` is one this version routes: the file, ``qc``, ``format/<x>``."""
        if len(below) <= 1:
            return not below or below[0] == "qc"
        return len(below) == 2 and below[0] == "format" and self._send_format is not None

    def _candidate(self, text: str) -> Candidate | None:
        if re.fullmatch(r"[0-9]{6,10}", text):
            return self.dataset.candidate(text)
        if self.version.pscid_lookup:
            return next((c for c in self.dataset.candidates if c.pscid == text), None)
        return None

    def _json(self, request: Request, body: Any) -> Response:
        # The 22+ ETag bug: every JSON body gets the same ETag, and If-None-Match with it is always a 304.
        if request.headers.get("if-none-match") == CONSTANT_ETAG:
            return Response(b"", 304, {"etag": CONSTANT_ETAG})
        return self._respond(200, body, {"etag": CONSTANT_ETAG})
