"""LORIS REST API (legacy v0.0.3-dev as on openpreventad, and later versions): login and the mirror crawl.

Tree: candidates → candidate → visits → visit + images list → each file and its QC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from neurofetch.errors import AuthError, RemoteDataError, UnreachableError
from neurofetch.net.auth import RenewingBearerAuth, Token
from neurofetch.net.http import (
    AsyncClient,
    Auth,
    Response,
    TransportError,
    get_json,
    json_field,
    parse_json,
    server_message,
)
from neurofetch.net.retry import RetryableError, RetryPolicy, describe, retrying, status_error
from neurofetch.net.secret import Secret
from neurofetch.services.loris.changes import ChangeListing
from neurofetch.services.loris.selection import LorisSelection
from neurofetch.services.loris.versions import LorisApi
from neurofetch.transfer.context import Context
from neurofetch.transfer.journal import Journal
from neurofetch.transfer.local_index import SidecarReader, flatten
from neurofetch.transfer.paths import UnsafeName, check_component
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.work import Document, Fetch, FileItem, Listing, Work

API_VERSIONS = ("v0.0.3-dev", "v0.0.4-dev", "v0.0.3")  # the paths LORIS servers serve their API under


async def login(client: AsyncClient, base_url: str, username: str, password: Secret, policy: RetryPolicy) -> Token:
    """POST /login. Server errors are retried; a refusal (401/400) never is: accounts lock."""
    url = f"{base_url}/login"

    async def attempt() -> Response:
        response = await client.post(url, json={"username": username, "password": password.value}, auth=None)  # type: ignore[arg-type]  # None (no auth) works; httpx types omit it
        retryable = status_error(response, "login")
        if retryable is not None:
            raise retryable
        return response

    try:
        response = await retrying(attempt, policy, "LORIS login")
    except RetryableError as exc:
        raise UnreachableError(f"LORIS login at {base_url}: {exc}") from None
    except TransportError as exc:
        raise UnreachableError(f"cannot reach LORIS: {describe(exc)}") from None
    if response.status_code in (400, 401, 403):
        message = server_message(response) or f"HTTP {response.status_code}"
        raise AuthError(f"LORIS refused the login for {username!r}: {message}")
    if not response.is_success:
        raise UnreachableError(
            f"LORIS login at {base_url} answered HTTP {response.status_code}"
            + (_api_path_hint(base_url) if response.status_code in (404, 405) else "")
        )
    body = parse_json(response, "LORIS login")
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise RemoteDataError(f"LORIS login answered without a token ({url})")
    return Token.from_jwt(token)


def _api_path_hint(base_url: str) -> str:
    """A login that is not there: most often a URL without the API's path, or with another version."""
    if "/api/" not in base_url + "/":
        return (
            f": the LORIS API base usually ends in /api/{API_VERSIONS[0]} (or "
            f"{', '.join('/api/' + v for v in API_VERSIONS[1:])}), e.g. {base_url}/api/{API_VERSIONS[0]}"
        )
    return f": check the API version in the URL (LORIS servers answer {', '.join(API_VERSIONS)})"


LS_COLUMNS = {
    "candidates": ("candid", "pscid", "site"),
    "visits": ("candid", "pscid", "site", "visit"),
    "files": ("candid", "pscid", "site", "visit", "output_type", "acquisition_type"),
}


class LorisSource:
    """The mirror's view of a LORIS server."""

    def __init__(self, api: LorisApi, auth: RenewingBearerAuth, selection: LorisSelection) -> None:
        self.api = api
        self.base_url = api.base_url or api.url
        self._auth = auth
        self.selection = selection
        self.projects_seen: set[str] = set()
        self.changes = ChangeListing(self, selection.since)

    def auth(self) -> Auth:
        return self._auth

    async def prepare(self, client: AsyncClient) -> None:
        self.base_url = await self.api.resolve(client)
        self._auth.bind(client)
        await self._auth.current()

    def roots(self) -> Sequence[Work]:
        if self.selection.since is not None:
            return [Listing("changes", self.changes, root=True)]
        return [Listing("candidates", self.list_candidates, root=True)]

    def finished(self, journal: Journal, result: RunResult) -> None:
        """After a mirror run: remember when a complete one started, for `--since last`."""
        self.changes.finished(journal, result)

    def url_of(self, *segments: str) -> str:
        return self.base_url + "/" + "/".join(quote(s, safe="") for s in segments)

    @staticmethod
    def safe_name(ctx: Context, item: str, name: str) -> bool:
        return _safe(ctx, item, name)

    async def list_candidates(self, ctx: Context) -> Sequence[Work]:
        url = self.url_of("candidates") + "/"
        body = await get_json(ctx.client, url, ctx.policy, what="candidate list")
        records = json_field(body, "Candidates", list, "candidate list", url)
        wanted = set(self.selection.candidates)
        work: list[Work] = []
        walked: list[dict[str, Any]] = []
        for record in records:
            cand = str(json_field(record, "CandID", (str, int), "candidate list", url))
            if wanted and cand not in wanted:
                continue
            self.selection.names.ledger.hit("--candidate", cand)
            if isinstance(record.get("Project"), str):
                self.projects_seen.add(record["Project"])
            meta = {"candid": cand, "pscid": _text(record.get("PSCID")), "site": _text(record.get("Site"))}
            if ctx.catalog is not None and self.selection.level == "candidates":
                ctx.catalog.row({"path": cand, "url": self.url_of("candidates", cand), **meta})
            elif _safe(ctx, f"candidate {cand}", cand):
                work.append(Listing(f"candidate {cand}", self._candidate_task(cand, meta), unit=cand))
                walked.append(record)
        return work + self.candidates_walked(walked)

    def candidates_walked(self, records: list[dict[str, Any]]) -> list[Work]:
        """What the records of the candidates the crawl walks add to the tree: nothing in the MINC tree."""
        return []

    def candidate_records(self, cand: str, body: Any) -> list[Work]:
        """What a candidate's record adds to the tree: its candidate.json."""
        return [Document((cand, "candidate.json"), body)]

    def _candidate_task(self, cand: str, meta: dict[str, str | None]) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            url = self.url_of("candidates", cand)
            body = await get_json(ctx.client, url, ctx.policy, what=f"candidate {cand}")
            visits = json_field(body, "Visits", list, f"candidate {cand}", url)
            if not all(isinstance(visit, str) for visit in visits):
                raise RemoteDataError(f"candidate {cand}: 'Visits' holds something other than visit labels ({url})")
            work: list[Work] = self.candidate_records(cand, body)
            for visit in visits:
                if self.selection.visits and visit not in self.selection.visits:
                    continue
                self.selection.names.ledger.hit("--visit", visit)
                if ctx.catalog is not None and self.selection.level == "visits":
                    ctx.catalog.row(
                        {
                            "path": f"{cand}/{visit}",
                            "url": self.url_of("candidates", cand, visit),
                            **meta,
                            "visit": visit,
                        }
                    )
                elif _safe(ctx, f"visit {cand}/{visit}", visit):
                    work.append(Listing(f"visit {cand}/{visit}", self.visit_task(cand, visit, meta)))
            return work

        return fetch

    def visit_task(self, cand: str, visit: str, meta: dict[str, str | None]) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            what = f"visit {cand}/{visit}"
            session = await get_json(ctx.client, self.url_of("candidates", cand, visit), ctx.policy, what=what)
            url = self.url_of("candidates", cand, visit, "images")
            listing = await get_json(ctx.client, url, ctx.policy, what=f"image list of {cand}/{visit}")
            files = json_field(listing, "Files", list, f"image list of {cand}/{visit}", url)
            work: list[Work] = [Document((cand, visit, "session.json"), session)]
            for record in files:
                name = json_field(record, "Filename", str, f"image list of {cand}/{visit}", url)
                if not self.selection.names.accepts(name, (cand, visit, name)):
                    continue
                if not _safe(ctx, f"{cand}/{visit}/{name}", name):
                    continue  # neither the file nor its QC: a name that cannot be a local path is not asked for
                item = FileItem(
                    (cand, visit, name),
                    self.url_of("candidates", cand, visit, "images", name),
                    records=(f"{name}.qc.json",) if self.selection.qc else (),
                    meta={
                        **meta,
                        "visit": visit,
                        "output_type": _text(record.get("OutputType")),
                        "acquisition_type": _text(record.get("AcquisitionType")),
                    },
                )
                if ctx.catalog is not None and self.selection.qc:  # `ls --qc`: the row waits for its QC
                    work.append(Listing(f"QC of {cand}/{visit}/{name}", self._qc_row_task(item)))
                    continue
                work.append(item)
                if self.selection.qc and not (
                    ctx.is_complete((cand, visit, name)) and ctx.exists((cand, visit, f"{name}.qc.json"))
                ):
                    work.append(Listing(f"QC of {cand}/{visit}/{name}", self._qc_task(cand, visit, name)))
            return work

        return fetch

    def _qc_task(self, cand: str, visit: str, name: str) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            url = self.url_of("candidates", cand, visit, "images", name, "qc")
            body = await get_json(ctx.client, url, ctx.policy, what=f"QC of {cand}/{visit}/{name}")
            if not isinstance(body, dict):
                raise RemoteDataError(f"QC of {cand}/{visit}/{name} is not a JSON object ({url})")
            return [Document((cand, visit, f"{name}.qc.json"), body)]

        return fetch

    def _qc_row_task(self, item: FileItem) -> Fetch:
        cand, visit, name = item.parts

        async def fetch(ctx: Context) -> Sequence[Work]:
            (record,) = await self._qc_task(cand, visit, name)(ctx)
            qc = record.data.get("QC") if isinstance(record, Document) else None
            item.meta["qc"] = _text(qc) if qc != "" else None
            return [item]

        return fetch


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _safe(ctx: Context, item: str, name: str) -> bool:
    """Whether a server-provided name can be a local path component; if not, the item fails once, here."""
    try:
        check_component(name)
    except UnsafeName as exc:
        error = f"refused an unsafe name from the server: {exc}"
        ctx.result.fail(item, error)
        ctx.reporter.failed(item, error)
        return False
    return True


def index_columns(records: SidecarReader, relpath: str) -> dict[str, Any] | None:
    """A mirrored file's columns for `index`, from candidate.json, session.json and <file>.qc.json beside it;
    None when the file is not where a LORIS mirror puts one."""
    parts = relpath.split("/")
    if len(parts) != 3:
        return None
    cand, visit, _ = parts
    candidate = records.json(f"{cand}/candidate.json")
    meta = candidate.get("Meta") if isinstance(candidate, dict) else None
    if not isinstance(meta, dict):
        return None
    session = records.json(f"{cand}/{visit}/session.json")
    columns: dict[str, Any] = {
        "candid": str(meta.get("CandID") or cand),
        "pscid": meta.get("PSCID"),
        "site": meta.get("Site"),
        "visit": visit,
    }
    columns.update(flatten(meta, "candidate.", skip=("CandID", "PSCID", "Site")))
    if isinstance(session, dict):
        columns.update(flatten(session.get("Meta"), "session.", skip=("CandID", "Visit")))
        if isinstance(session.get("Stages"), dict):  # legacy LORIS sends [] for a visit without stages
            columns.update(flatten(session["Stages"], "session.stages."))
    columns.update(flatten(records.json(f"{relpath}.qc.json", keep=False), "qc.", skip=("Meta",)))
    return columns
