"""Emulator of the LORIS API: the legacy v0.0.3-dev as served by openpreventad.loris.ca (reference/loris.md),
or with ``api_version`` the module API's v0.0.3 or v0.0.4-dev (versions.py, module_routes.py).

Layout of the real server, kept here: Apache rewrite rules (``.htaccess``) send ``/candidates/**`` to
legacy PHP scripts (method check, then token check, then CandID, visit and file checks; JSON printed
without a JSON content type and with ``\\/`` escapes) and ``/login`` and ``/projects/**`` to the module
API (``application/json``). Anything the rewrite rules do not match gets Apache's HTML 404 page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from neurofetch.emulators.common import FILE_RESPONSE_HEADER, Emulator, Faults, Scope
from neurofetch.emulators.loris.bids import BIDS_ETAG, FORMAT_TYPES, BidsExport, ImageFormats
from neurofetch.emulators.loris.data import (
    OCTET_STREAM,
    PROJECT,
    SERVER_TZ,
    VISIT_LABELS,
    ImageFile,
    LorisDataset,
    candidate_etag,
    candidate_json,
    candidate_row,
    images_json,
    project_image_row,
    qc_json,
    visit_json,
)
from neurofetch.emulators.loris.module_routes import ModuleCandidates
from neurofetch.emulators.loris.versions import DEFAULT_VERSION, NO_VERSION, VERSION_SEGMENT, file_etag

__all__ = ["LorisDataset", "LorisEmulator"]

LEGACY_CONTENT_TYPE = "text/html; charset=UTF-8"  # PHP's default: the legacy scripts never set one
JSON_CONTENT_TYPE = "application/json"
CORS_HEADERS = {"access-control-allow-origin": "*", "access-control-allow-headers": "*"}
CHUNK_SIZE = 65536

INCORRECT_LOGIN = "Incorrect username or password."
SUSPENDED_LOGIN = "This account is currently suspended due to too many bad login attempts."
APACHE_NOT_FOUND = (
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>404 Not Found</title>\n'
    b"</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n"
    b"</body></html>\n"
)
_JWT_HEADER = b'{"typ":"JWT","alg":"HS256"}'
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class _Rule:
    """One rewrite rule: the (decoded) path after the API base it matches, and the methods its script allows."""

    kind: str
    pattern: re.Pattern[str]
    methods: tuple[str, ...]
    module: bool = False  # served by the module API (JSON errors, application/json) rather than a legacy script


_CAND, _VISIT, _FILE = r"([0-9]+)", r"([a-zA-Z0-9_.]+)", r"([a-zA-Z0-9_.-]+)"
_RULES = (
    # openpreventad's BIDS export (legacy scripts; reference/loris.md §3.6)
    _Rule("bids", re.compile(rf"projects/{PROJECT}/bids/?"), ("GET",)),
    _Rule("bids_top", re.compile(rf"projects/{PROJECT}/bids/{_FILE}"), ("GET",)),
    _Rule("bids_session", re.compile(rf"candidates/{_CAND}/{_VISIT}/bidsfiles/{_FILE}"), ("GET",)),
    _Rule("bids_image", re.compile(rf"candidates/{_CAND}/{_VISIT}/images/{_FILE}/bids/{_FILE}"), ("GET",)),
    _Rule("login", re.compile(r"login/?"), ("POST",), module=True),
    _Rule("projects", re.compile(r"projects/?(.*)"), ("GET",), module=True),
    _Rule("images", re.compile(rf"candidates/{_CAND}/{_VISIT}/images"), ("GET",)),
    _Rule("qc", re.compile(rf"candidates/{_CAND}/{_VISIT}/images/{_FILE}/qc"), ("GET", "PUT")),
    _Rule("image", re.compile(rf"candidates/{_CAND}/{_VISIT}/images/{_FILE}"), ("GET", "PUT")),
    _Rule("candidates", re.compile(r"candidates/?"), ("GET", "POST")),
    _Rule("candidate", re.compile(rf"candidates/{_CAND}/?"), ("GET",)),
    _Rule("visit", re.compile(rf"candidates/{_CAND}/{_VISIT}/?"), ("GET", "PUT")),
)


def php_json(value: Any) -> bytes:
    """PHP ``json_encode`` with default flags: compact, ASCII-only, slashes escaped."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def module_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def legacy_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    content = b"" if body is None else php_json(body)
    return Response(content, status, {**CORS_HEADERS, **(headers or {})}, media_type=LEGACY_CONTENT_TYPE)


def legacy_error(status: int, message: str) -> Response:
    return legacy_response(status, {"error": message})


def module_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(module_json(body), status, {**CORS_HEADERS, **(headers or {})}, media_type=JSON_CONTENT_TYPE)


def apache_not_found() -> Response:
    return Response(APACHE_NOT_FOUND, 404, media_type="text/html; charset=iso-8859-1")


def api_path(scope: Scope, base_path: str) -> str | None:
    """The percent-decoded path after the API base, or None when Apache would answer 404 itself.

    Runs of slashes collapse (Apache merges them); an encoded slash is refused (AllowEncodedSlashes Off).
    """
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    text = re.sub("/{2,}", "/", raw.decode("latin-1"))
    if not text.startswith(base_path + "/"):
        return None
    segments = [unquote(part, errors="replace") for part in text[len(base_path) + 1 :].split("/")]
    if any("/" in segment for segment in segments):
        return None
    return "/".join(segments)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class LorisEmulator(Emulator):
    """LORIS on loopback: JWT login with lockout, candidates → visits → images, files, QC; one API version."""

    def __init__(
        self,
        dataset: LorisDataset | None = None,
        *,
        faults: Faults | None = None,
        users: dict[str, str] | None = None,
        token_ttl: float = 86400,
        lockout_after: int = 5,
        bids_export: bool = True,
        api_version: str = DEFAULT_VERSION,
    ) -> None:
        from neurofetch.emulators.loris import versions

        super().__init__(faults=faults)
        self.version = versions.api_version(api_version)
        self.base_path = f"/api/{self.version.name}"
        dataset = LorisDataset() if dataset is None else dataset
        self.dataset = dataset.with_hostile_names() if self.faults.hostile_names else dataset
        self.users = dict(users if users is not None else {"demo": "demo"})
        self.token_ttl = token_ttl
        self.lockout_after = lockout_after
        self.logins = 0
        self.failed_logins = 0
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._suspended: set[str] = set()
        self._token_uses: dict[str, int] = {}
        self._missing = {f.key for f in self.dataset.files[: self.faults.missing_files]}
        self.forbidden: set[str] = set()  # CandIDs of another site: 403 for them and all below (LORIS 22+)
        # openpreventad's export is a legacy script: the module API (stock LORIS 22+) has none.
        self.bids = BidsExport(self.dataset) if bids_export else None  # None: a stock LORIS without the export
        self.formats = ImageFormats(self.dataset)  # format/nifti|… where the version serves them (v0.0.4-dev)
        self._module = (
            None
            if self.version.legacy
            else ModuleCandidates(
                self.version,
                self.dataset,
                module_response,
                self._file_response,
                self._listed,
                self._format_response,
            )
        )

    def build_app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._dispatch, methods=_ALL_METHODS)])

    @property
    def suspended_users(self) -> set[str]:
        with self._lock:
            return set(self._suspended)

    # -- routing ---------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        path = api_path(request.scope, self.base_path)
        if path is None:
            return self._without_version(request)
        if self._module is not None:
            return await self._module_dispatch(path, request)
        found = [(r, m) for r in _RULES if (m := r.pattern.fullmatch(path))]
        if not found:
            return apache_not_found()
        rule, match = found[0]
        if request.method not in rule.methods:
            return self._method_not_allowed(rule)
        if rule.kind == "login":
            return await self._login(request)
        if self._authenticate(request) is None:
            if rule.module:
                return module_response(401, {"error": "unauthorized"})
            return legacy_error(401, "User not authenticated")
        if rule.kind.startswith("bids"):
            return self._bids_get(rule.kind, match.groups(), request)
        if rule.kind == "projects":
            return self._projects(match.group(1), request)
        if request.method != "GET":
            return legacy_response(501)  # writes (candidate/visit creation, QC updates) are not emulated
        return self._legacy_get(rule.kind, match.groups(), request)

    def _without_version(self, request: Request) -> Response:
        """A path under /api/ that is not this version's: the module router's answer; elsewhere Apache's 404."""
        under_api = api_path(request.scope, "/api")
        if under_api is None:
            return apache_not_found()
        if VERSION_SEGMENT.fullmatch(under_api.split("/")[0]):
            return module_response(404, {"error": "Unsupported version"})
        return module_response(400, {"error": NO_VERSION})

    async def _module_dispatch(self, path: str, request: Request) -> Response:
        """LORIS 22+: one router for every path; JSON errors; one trailing slash is stripped."""
        parts = path.removesuffix("/").split("/")
        if parts[0] == "login" and len(parts) == 1:
            if request.method != "POST":
                return module_response(405, {"error": "method not allowed"}, {"allow": "POST"})
            return await self._login(request)
        if request.method != "GET":
            return module_response(405, {"error": "method not allowed"}, {"allow": "GET"})
        if self._authenticate(request) is None:
            return module_response(401, {"error": "unauthorized"})
        if parts[0] == "projects":
            return self._projects("/".join(parts[1:]), request)
        if parts[0] == "candidates" and self._module is not None:
            return self._module.get(parts[1:], request, self.forbidden)
        return module_response(404, {"error": "not found"})

    def _projects(self, rest: str, request: Request) -> Response:
        since = request.query_params.get("since") if self.version.since else None
        return project_response(self.dataset, rest, since)

    @staticmethod
    def _method_not_allowed(rule: _Rule) -> Response:
        allow = {"allow": ", ".join(rule.methods)}
        if rule.module:
            return module_response(405, {"error": "method not allowed"}, allow)
        return legacy_response(405, None, allow)

    # -- login and tokens ------------------------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        try:
            data = json.loads(await request.body())
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("username") is None or data.get("password") is None:
            with self._lock:
                self.failed_logins += 1
            return module_response(400, {"error": "Missing username or password"})
        user, password = data["username"], data["password"]
        error = self._check_password(user, password)
        if error is not None:
            return module_response(401, {"error": error})
        token = self.issue_token(str(user), f"{request.url.scheme}://{request.url.netloc}")
        with self._lock:
            # Two logins in the same second yield the same token; a fresh login must still get fresh uses.
            self._token_uses.pop(token, None)
        return module_response(200, {"token": token})

    def _check_password(self, user: object, password: object) -> str | None:
        """None on success, else the error message; counts failures and suspends after ``lockout_after``."""
        name = user if isinstance(user, str) else ""
        with self._lock:
            if name in self._suspended:
                self.failed_logins += 1
                return SUSPENDED_LOGIN
            expected = self.users.get(name)
            if (
                expected is not None
                and isinstance(password, str)
                and hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8"))
            ):
                self._failures.pop(name, None)
                self.logins += 1
                return None
            self.failed_logins += 1
            if expected is not None:
                failures = self._failures[name] = self._failures.get(name, 0) + 1
                if self.lockout_after and failures >= self.lockout_after:
                    self._suspended.add(name)
            return INCORRECT_LOGIN

    def issue_token(self, user: str, issuer: str = "http://127.0.0.1") -> str:
        """An HS256 JWT as LORIS makes it: iss/aud = base URL, exp = iat + ``token_ttl``."""
        now = int(time.time())
        payload = {
            "iss": issuer,
            "aud": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + math.ceil(self.token_ttl),
            "user": user,
        }
        signing_input = f"{_b64(_JWT_HEADER)}.{_b64(php_json(payload))}"
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def _token_user(self, token: str) -> str | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(parts[2]), expected):
                return None
            payload = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        now = int(time.time())
        if not isinstance(payload, dict) or payload.get("nbf", 0) > now or now >= payload.get("exp", 0):
            return None
        user = payload.get("user")
        return user if isinstance(user, str) else None

    def _authenticate(self, request: Request) -> str | None:
        """The user of a valid Bearer token, counting the use; None when the request is unauthenticated."""
        header = request.headers.get("authorization", "")
        parts = header.split(" ")
        token = parts[1] if len(parts) > 1 else ""  # PHP: explode(" ", $header)[1]
        user = self._token_user(token) if token else None
        if user is None:
            return None
        limit = self.faults.token_expiry_after
        with self._lock:
            if user in self._suspended:
                return None
            uses = self._token_uses.get(token, 0)
            if limit and uses >= limit:
                return None
            self._token_uses[token] = uses + 1
        return user

    # -- legacy /candidates/** -------------------------------------------------------------------

    def _legacy_get(self, kind: str, groups: tuple[str, ...], request: Request) -> Response:
        if kind == "candidates":
            rows = [candidate_row(c) for c in self.dataset.candidates]
            return self._with_etag(request, self._candidates_etag(), {"Candidates": self._listed(rows)})
        if not re.fullmatch(r"[0-9]{6,10}", groups[0]):
            return legacy_error(400, "Invalid CandID format")
        cand = self.dataset.candidate(groups[0])
        if cand is None:
            return legacy_error(404, "Unknown CandID")
        if cand.cand_id in self.forbidden:
            return module_response(403, {"error": "Permission denied"})
        if kind == "candidate":
            body = candidate_json(cand)
            return self._with_etag(request, candidate_etag(cand), {**body, "Visits": self._listed(body["Visits"])})
        visit = cand.visit(groups[1])
        if visit is None:
            return legacy_error(404, f"Invalid visit {groups[1]}")
        if kind == "visit":
            return self._with_etag(request, candidate_etag(cand), visit_json(cand, visit))
        if kind == "images":
            body = images_json(cand, visit)
            return self._with_etag(request, candidate_etag(cand), {**body, "Files": self._listed(body["Files"])})
        record = self.dataset.file(cand.cand_id, visit.label, groups[2])
        if record is None:
            return legacy_error(404, "File not found")
        if kind == "qc":
            return self._with_etag(request, "", qc_json(record))
        return self._file_response(record, request)

    def _bids_get(self, kind: str, groups: tuple[str, ...], request: Request) -> Response:
        if self.bids is None:  # stock LORIS: the module API knows no such project path, Apache no such script
            return module_response(404, {"error": "not found"}) if kind in ("bids", "bids_top") else apache_not_found()
        if kind == "bids":
            return self._with_etag(request, BIDS_ETAG, self.bids.listing())
        if kind == "bids_top":
            content = self.bids.top_level(groups[0])
        elif kind == "bids_session":
            content = self.bids.session_file(*groups)
        else:
            content = self.bids.image_file(*groups)
        if content is None:
            return legacy_error(404, "File not found")
        headers = {**CORS_HEADERS, "content-length": str(len(content)), FILE_RESPONSE_HEADER.decode("latin-1"): "1"}
        return Response(content, 200, headers, media_type=OCTET_STREAM)

    def _listed(self, entries: list[Any]) -> list[Any]:
        """A listing's entries; with the ``duplicate_entries`` fault, each one twice."""
        return [e for e in entries for _twice in (1, 2)] if self.faults.duplicate_entries else entries

    @staticmethod
    def _with_etag(request: Request, etag: str, body: Any) -> Response:
        # PHP compares If-None-Match with ===, so even the empty QC ETag matches an empty header.
        if request.headers.get("if-none-match") == etag:
            return legacy_response(304, None, {"etag": etag})
        return legacy_response(200, body, {"etag": etag})

    def _candidates_etag(self) -> str:
        return _md5(f"Candidates:{_last_change(self.dataset.seed)}:{len(self.dataset.candidates)}")

    # -- file download ---------------------------------------------------------------------------

    def _file_response(self, record: ImageFile, request: Request) -> Response:
        legacy = self.version.legacy
        if record.key in self._missing:
            if not legacy:
                return module_response(404, {"error": "not found"})
            return legacy_response(500, None, {"etag": ""})  # fopen() failed: 500 with an empty body
        start, stop, status = 0, record.size, 200
        etag = "" if legacy else file_etag(record, int(datetime.fromisoformat(record.insert_time).timestamp()))
        if not legacy and request.headers.get("if-none-match") == etag:
            return Response(b"", 304, {"etag": etag})
        headers = {
            **CORS_HEADERS,
            "etag": etag,
            "content-disposition": f"attachment; filename={record.filename}",
            FILE_RESPONSE_HEADER.decode("latin-1"): "1",
            **({"cache-control": "private"} if legacy else {}),
        }
        if self.faults.range_support:
            headers["accept-ranges"] = "bytes"
            wanted = _parse_range(request.headers.get("range"))
            if wanted is not None:
                start, stop = wanted[0], min(wanted[1] or record.size, record.size)
                if start >= stop:
                    return Response(b"", 416, {"content-range": f"bytes */{record.size}"})
                status = 206
                headers["content-range"] = f"bytes {start}-{stop - 1}/{record.size}"
        headers["content-length"] = str(stop - start)
        return StreamingResponse(self._stream(record, start, stop), status, headers, media_type=record.content_type)

    def _format_response(self, record: ImageFile, name: str, request: Request) -> Response:
        """``…/images/{F}/format/<name>`` of LORIS main: an unknown format is 415, a missing conversion 404."""
        content_type = FORMAT_TYPES.get(name)
        if content_type is None:
            return module_response(415, {"error": "Unsupported Media Type"})
        content = self.formats.body(record, name)
        if content is None:
            return module_response(404, {"error": "Not Found"})
        stored = f"{record.filename.removesuffix('.mnc')}.{ {'nifti': 'nii.gz', 'bidsjson': 'json'}.get(name, name) }"
        mtime = int(datetime.fromisoformat(record.insert_time).timestamp())
        etag = _md5(json.dumps({"filename": stored, "size": len(content), "mtime": mtime}, separators=(",", ":")))
        if request.headers.get("if-none-match") == etag:
            return Response(b"", 304, {"etag": etag})
        headers = {
            **CORS_HEADERS,
            "etag": etag,
            "content-disposition": f"attachment; filename={stored}",
            "content-length": str(len(content)),
            FILE_RESPONSE_HEADER.decode("latin-1"): "1",
        }
        return Response(content, 200, headers, media_type=content_type)

    async def _stream(self, record: ImageFile, start: int, stop: int) -> AsyncIterator[bytes]:
        for chunk in self.dataset.iter_content(*record.key, start=start, chunk=CHUNK_SIZE, stop=stop):
            yield chunk


def _parse_range(header: str | None) -> tuple[int, int | None] | None:
    """``bytes=N-`` or ``bytes=N-M`` as (start, stop-exclusive or None); anything else is ignored."""
    match = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", header or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)) + 1 if match.group(2) else None


def _last_change(seed: int) -> str:
    return f"2020-10-{1 + seed % 28:02d} 12:00:00"


# -- module /projects/** ------------------------------------------------------------------------

PROJECTS_BODY = {"Projects": {PROJECT: {"useEDC": False, "PSCID": {"Type": "prompt", "Regex": "/^CONP[0-9]{7}$/i"}}}}


def project_response(dataset: LorisDataset, rest: str, since: str | None) -> Response:
    """``/projects``, ``/projects/loris`` and its ``candidates``, ``visits`` and ``images`` (module API)."""
    parts = rest.removesuffix("/").split("/")  # the module router strips one trailing slash
    if parts == [""]:
        return module_response(200, PROJECTS_BODY)
    if parts[0] != PROJECT or len(parts) > 2:
        return module_response(404, {"error": "not found"})
    meta = {"Project": PROJECT}
    cand_ids = [c.cand_id for c in dataset.candidates]
    used = {v.label for c in dataset.candidates for v in c.visits}
    visits = [label for label in VISIT_LABELS if label in used]
    tail = parts[1] if len(parts) == 2 else None
    if tail is None:
        return module_response(200, {"Meta": meta, "Visits": visits, "Instruments": [], "Candidates": cand_ids})
    if tail == "candidates":
        return module_response(200, {"Meta": meta, "Candidates": cand_ids})
    if tail == "visits":
        return module_response(200, {"Meta": meta, "Visits": visits})
    if tail == "images":
        return _project_images(dataset, since)
    return module_response(404, {"error": "not found"})


def _project_images(dataset: LorisDataset, since: str | None) -> Response:
    """The whole-project manifest, oldest InsertTime first; ``Link`` is relative to the API base."""
    cutoff = None
    if since is not None:
        try:
            cutoff = parse_since(since)
        except ValueError:
            return module_response(
                400,
                {
                    "error": f"DateTime::__construct(): Failed to parse time string ({since}) "
                    f"at position 0 ({since[:1]}): The timezone could not be found "
                    "in the database"
                },
            )
    pscids = {c.cand_id: c.pscid for c in dataset.candidates}
    rows = [
        project_image_row(f, pscids[f.cand])
        for f in sorted(dataset.files, key=lambda f: f.insert_time)
        if cutoff is None or datetime.fromisoformat(f.insert_time) > cutoff
    ]
    return module_response(200, {"Images": rows})


def parse_since(text: str) -> datetime:
    """``?since=`` as ISO 8601 (PHP's ``new DateTime()`` accepts more); a date without zone is server time."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=SERVER_TZ)
