"""`mirror --bids`: a LORIS server's BIDS export (openpreventad's ``/projects/loris/bids``, reference/loris.md §3.6)
as a BIDS tree: the top-level files as served, then ``sub-<CandID>/ses-<Visit>/`` with the session's scans
files and ``<datatype>/`` with each image's NIfTI, JSON sidecar, bval/bvec and events. A server without the
export whose API serves each image's NIfTI (LORIS main) makes the tree image by image instead (bids_nifti.py).

The export is one listing of links relative to the API base. Everything in it is the server's word: a link
must be a plain path under the API base (no ``..``), and the candidate, visit, datatype and file names pass
the same safe-name check as the MINC crawl; an entry that fails is one failed item naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from neurofetch.errors import HttpStatusError, UsageError
from neurofetch.net.auth import RenewingBearerAuth
from neurofetch.net.http import AsyncClient, get_json, json_field
from neurofetch.net.retry import RetryPolicy
from neurofetch.services.loris.bids_nifti import DATASET_UNIT, NiftiBids, serves_nifti
from neurofetch.services.loris.source import LorisSelection, LorisSource, _safe, _text
from neurofetch.services.loris.versions import LorisApi
from neurofetch.transfer.engine import Context
from neurofetch.transfer.work import Fetch, FileItem, Listing, Work

EXPORT_PATH = "projects/loris/bids"  # openpreventad's export; stock LORIS has none
TOP_LEVEL = (
    ("DatasetDescription", "Link"),
    ("README", "Link"),
    ("BidsValidatorConfig", "Link"),
    ("Participants", "TsvLink"),
    ("Participants", "JsonLink"),
)
IMAGE_LINKS = ("NiftiLink", "JsonLink", "BvalLink", "BvecLink", "EventLink")
NIFTI_EXTENSIONS = (".nii.gz", ".nii")


@dataclass(frozen=True)
class BidsSelection:
    """What `mirror --bids` takes: the candidates and visits (and names) of ``base``, BIDS datatypes and suffixes."""

    base: LorisSelection
    datatypes: Sequence[str] = ()
    suffixes: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.base.names.ledger.expect("--datatype", self.datatypes)
        self.base.names.ledger.expect("--suffix", self.suffixes)


class LorisBidsSource(LorisSource):
    """The mirror's view of a LORIS server's BIDS export: one listing, then files."""

    def __init__(self, api: LorisApi, auth: RenewingBearerAuth, selection: BidsSelection, policy: RetryPolicy) -> None:
        super().__init__(api, auth, selection.base)
        self.bids = selection
        self._policy = policy
        self._export: Any = None
        self.nifti: NiftiBids | None = None  # the server has no export: the tree comes image by image

    async def prepare(self, client: AsyncClient) -> None:
        """Log in, then read the export; a server with neither it nor NIfTI downloads stops here (exit 2),
        before DEST exists."""
        await super().prepare(client)
        url = f"{self.base_url}/{EXPORT_PATH}"
        try:
            self._export = await get_json(client, url, self._policy, what="the BIDS export")
        except HttpStatusError as exc:
            if exc.status not in (404, 405, 415):
                raise
            if serves_nifti(self.api.version):
                self.nifti = NiftiBids(self, self.bids.datatypes, self.bids.suffixes)
                return
            raise UsageError(
                f"--bids: this LORIS server has no BIDS export (GET {url} answered HTTP {exc.status}; "
                f"only openpreventad-style servers have one) and its API {self.api.version} has no NIfTI "
                "downloads (images/<file>/format/nifti: LORIS main, API v0.0.4-dev); mirror without --bids "
                "for its MINC files"
            ) from None

    def roots(self) -> Sequence[Work]:
        if self.nifti is not None:
            return [Listing("candidates", self.list_candidates, root=True)]
        return [Listing("BIDS export", self._listing, root=True)]

    def candidates_walked(self, records: list[dict[str, Any]]) -> list[Work]:
        return self.nifti.top_level(records) if self.nifti is not None else []

    def candidate_records(self, cand: str, body: Any) -> list[Work]:
        return []  # a BIDS tree has no candidate.json: participants.tsv carries what BIDS wants of it

    def visit_task(self, cand: str, visit: str, meta: dict[str, str | None]) -> Fetch:
        if self.nifti is None:
            return super().visit_task(cand, visit, meta)
        return self.nifti.visit_task(cand, visit)

    async def _listing(self, ctx: Context) -> Sequence[Work]:
        url = f"{self.base_url}/{EXPORT_PATH}"
        body = self._export
        if body is None:  # a second crawl of the same source (never in one run): read it again
            body = await get_json(ctx.client, url, ctx.policy, what="the BIDS export")
        self._export = None
        work: list[Work] = []
        for key, link_key in TOP_LEVEL:
            if isinstance(body, dict) and body.get(key) is None:
                continue  # an export without, say, a validator config still has its images
            entry = json_field(body, key, dict, "the BIDS export", url)
            item = self._file(ctx, json_field(entry, link_key, str, f"the BIDS export's {key}", url), (), DATASET_UNIT)
            if item is not None:
                work.append(item)
        images: list[FileItem] = []
        for entry in json_field(body, "Images", list, "the BIDS export", url):
            images += self._entry_files(ctx, entry, IMAGE_LINKS, session_file=False)
        # With --datatype/--suffix, a session's scans files come only with an image of that session.
        sessions = {item.parts[:2] for item in images}
        narrowed = bool(self.bids.datatypes or self.bids.suffixes)
        for entry in json_field(body, "SessionFiles", list, "the BIDS export", url):
            work += [
                item
                for item in self._entry_files(ctx, entry, ("TsvLink", "JsonLink"), session_file=True)
                if not narrowed or item.parts[:2] in sessions
            ]
        return work + images

    def _entry_files(
        self, ctx: Context, entry: object, link_keys: Sequence[str], *, session_file: bool
    ) -> list[FileItem]:
        """The files of one SessionFiles or Images entry that the selection takes; [] for a refused entry."""
        what = "session files" if session_file else "image"
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("Candidate", "Visit")):
            ctx.control.fail(
                f"BIDS export {what} entry", f"refused an entry without Candidate and Visit: {str(entry)[:120]}"
            )
            return []
        cand, visit = entry["Candidate"], entry["Visit"]
        label = f"{what} of {cand}/{visit}"
        selection = self.selection
        if (selection.candidates and cand not in selection.candidates) or (
            selection.visits and visit not in selection.visits
        ):
            return []
        if not (_safe(ctx, label, cand) and _safe(ctx, label, visit)):
            return []
        folder: tuple[str, ...] = (f"sub-{cand}", f"ses-{visit}")
        ledger = selection.names.ledger
        if not session_file:
            datatype = entry.get("Subfolder")
            if not isinstance(datatype, str) or not _safe(ctx, label, datatype):
                return []
            if self.bids.datatypes and datatype not in self.bids.datatypes:
                return []
            suffix = bids_suffix(entry.get("NiftiLink"))
            if self.bids.suffixes and suffix not in self.bids.suffixes:
                return []
            ledger.hit("--datatype", datatype)
            ledger.hit("--suffix", suffix or "")
            folder = (*folder, datatype)
        ledger.hit("--candidate", cand)
        ledger.hit("--visit", visit)
        links = [entry[key] for key in link_keys if key in entry]
        if not session_file and not isinstance(entry.get("NiftiLink"), str):
            ctx.control.fail(label, "refused an image entry without a NiftiLink")
            return []
        items = [
            self._file(
                ctx, link, folder, cand, meta={"candid": cand, "pscid": _text(entry.get("PSCID")), "visit": visit}
            )
            for link in links
        ]
        return [item for item in items if item is not None]

    def _file(
        self, ctx: Context, link: object, folder: tuple[str, ...], unit: str, meta: dict[str, Any] | None = None
    ) -> FileItem | None:
        """The FileItem of one link (its last segment names the file), or None when refused or not selected."""
        segments = link_segments(link)
        if segments is None:
            ctx.control.fail(
                f"BIDS link {str(link)[:200]!r}",
                "refused a link that is not a plain path under the API (empty, '.' or '..' segments)",
            )
            return None
        name = segments[-1]
        if not _safe(ctx, "/".join((*folder, name)), name):
            return None
        if not self.selection.names.accepts(name, (*folder, name)):
            return None
        url = self.base_url + "/" + "/".join(quote(s, safe="") for s in segments)
        return FileItem((*folder, name), url, unit=unit, meta=meta or {})


def link_segments(link: object) -> list[str] | None:
    """The path segments of a link relative to the API base (``/candidates/…``), or None when it is not a
    plain relative path: it must start with one ``/``, and no segment may be empty, ``.`` or ``..``."""
    if not isinstance(link, str) or not link.startswith("/") or link.startswith("//") or "\\" in link:
        return None
    segments = link[1:].split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return None
    return segments


def bids_suffix(link: object) -> str | None:
    """The BIDS suffix of a NIfTI link: ``…_run-001_T1w.nii.gz`` → ``T1w``."""
    if not isinstance(link, str):
        return None
    name = link.rsplit("/", 1)[-1]
    for extension in NIFTI_EXTENSIONS:
        if name.endswith(extension):
            return name.removesuffix(extension).rsplit("_", 1)[-1]
    return None


def bids_selection(
    selection: LorisSelection,
    *,
    bids: bool,
    datatypes: Sequence[str] = (),
    suffixes: Sequence[str] = (),
    manifest: bool = False,
) -> LorisSelection | BidsSelection:
    """``selection`` as `mirror --bids` takes it, or unchanged without --bids (then --datatype/--suffix are errors)."""
    if not bids:
        if datatypes or suffixes:
            raise UsageError("--datatype and --suffix select files of the BIDS export: add --bids")
        return selection
    if manifest:
        raise UsageError("--from-manifest is not available with --bids (`ls` lists the MINC files)")
    return BidsSelection(selection, tuple(datatypes), tuple(suffixes))
