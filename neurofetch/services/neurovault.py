"""NeuroVault REST API (reference/neurovault.md): collections by id or DOI, their images, and the mirror crawl.

Tree: [DOI search →] collection → image pages (DRF limit/offset, following ``next``) → each file and its record.
Reads are anonymous. The server may ignore ``?DOI=`` (§3), so every answer is re-checked here.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from neurofetch.errors import AuthError, HttpStatusError, ItemError, RemoteDataError, UsageError
from neurofetch.net.http import URL, AsyncClient, Auth, get_json, json_field, not_the_api
from neurofetch.net.retry import RetryPolicy
from neurofetch.services.paging import Pager
from neurofetch.transfer.context import Context
from neurofetch.transfer.filters import NameFilter
from neurofetch.transfer.local_index import SidecarReader
from neurofetch.transfer.paths import UnsafeName, check_component
from neurofetch.transfer.work import Document, Fetch, FileItem, Listing, Work

GZIP_MAGIC = b"\x1f\x8b"
DOI_SCAN_PAGES = 5  # a DOI search that brings other collections stops after this many pages...
DOI_SCAN_COLLECTIONS = 500  # ...or this many other collections: the server ignored the filter
DOI_PREFIXES = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
RESERVED_NAMES = frozenset({"collection.json"})


def collection_id(text: str) -> int:
    """A ``--collection`` value: NeuroVault collection ids are whole numbers."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or int(value) == 0:
        raise UsageError(f"--collection takes a NeuroVault collection id (a whole number), not {text!r}")
    return int(value)


def normalise_doi(text: str) -> str:
    """A ``--doi`` value as NeuroVault stores it: ``10.x/y``, also accepted as a doi.org link or ``doi:10.x/y``."""
    doi = DOI_PREFIXES.sub("", text.strip())
    if not doi.startswith("10.") or "/" not in doi or any(ch.isspace() for ch in doi):
        raise UsageError(f"--doi takes a DOI such as 10.1016/j.neurobiolaging.2012.11.002, not {text!r}")
    return doi


def same_doi(recorded: Any, wanted: str) -> bool:
    """DOIs are case-insensitive; nothing else is forgiven."""
    return isinstance(recorded, str) and recorded.casefold() == wanted.casefold()


def gzip_body(first: bytes, content_type: str) -> str | None:
    """Content check for ``.gz`` files: the body must start with the gzip magic bytes."""
    head = first[:2]
    if not head:
        return "the server sent an empty body instead of a gzip file"
    if GZIP_MAGIC[: len(head)] != head:
        return "the body is not gzip data (a .nii.gz starts with 1f 8b)"
    return None


@dataclass(frozen=True)
class NeuroVaultSelection:
    collections: Sequence[int] = ()
    dois: Sequence[str] = ()
    map_types: Sequence[str] = ()  # display strings, e.g. "Z map"; compared case-insensitively
    modalities: Sequence[str] = ()
    names: NameFilter = field(default_factory=NameFilter)

    def __post_init__(self) -> None:
        ledger = self.names.ledger
        ledger.expect("--collection", self.collections)
        ledger.expect("--doi", self.dois)
        ledger.expect("--map-type", self.map_types)
        ledger.expect("--modality", self.modalities)

    def wants(self, record: dict[str, Any]) -> bool:
        """Image filters; there are none on the server (§3), so they apply to each record."""
        map_type = self._match("--map-type", record.get("map_type"), self.map_types)
        modality = self._match("--modality", record.get("modality"), self.modalities)
        return map_type and modality

    def _match(self, flag: str, value: Any, wanted: Sequence[str]) -> bool:
        if not wanted:
            return True
        hits = [w for w in wanted if isinstance(value, str) and value.casefold() == w.casefold()]
        for w in hits:
            self.names.ledger.hit(flag, w)
        return bool(hits)


@dataclass
class _Collection:
    """What the page listings of one collection share: the pager (ids seen), file names and pages already seen."""

    id: int
    pager: Pager
    names: dict[str, int] = field(default_factory=dict)
    pages: set[str] = field(default_factory=set)

    @property
    def folder(self) -> str:
        return f"collection-{self.id}"


class NeuroVaultSource:
    """The mirror's view of a NeuroVault server."""

    def __init__(self, base_url: str, selection: NeuroVaultSelection, policy: RetryPolicy) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/api")
        self.selection = selection
        self._policy = policy
        self._claimed: set[int] = set()  # collections already handed to the engine (by --collection or a DOI)

    def auth(self) -> Auth | None:
        return None

    async def prepare(self, client: AsyncClient) -> None:
        """Check that the URL is a NeuroVault API before any work starts (unreachable: exit 5)."""
        url = self._api()
        try:
            body = await get_json(client, url, self._policy, what=f"NeuroVault API at {url}")
        except HttpStatusError as exc:
            raise not_the_api(exc) from None
        if not isinstance(body, dict) or "collections" not in body:
            raise RemoteDataError(f"{url} does not look like the NeuroVault API (no 'collections' link)")

    def roots(self) -> Sequence[Work]:
        work: list[Work] = [Listing(f"DOI {doi}", self._doi_task(doi), root=True) for doi in self.selection.dois]
        for cid in dict.fromkeys(self.selection.collections):
            self._claimed.add(cid)
            work.append(self._collection_listing(cid, None))
        return work

    def _api(self, *segments: str) -> str:
        return "/".join((self.base_url, "api", *segments)) + "/"

    def _follow(self, link: str) -> str:
        """A link from a record or a ``next``; http:// links to our https host are upgraded (§4.3): those on the
        default port (Django behind nginx writes http://neurovault.org/...) and those naming the very port that
        serves us TLS, where plain HTTP cannot be answered."""
        base = URL(self.base_url + "/")
        target = base.join(link)
        if (
            base.scheme == "https"
            and target.scheme == "http"
            and target.host == base.host
            and target.port in (None, base.port)
        ):
            target = target.copy_with(scheme="https")
        return str(target)

    def _next(self, body: dict[str, Any], visited: set[str]) -> str | None:
        """The page after this one; None at the end, or when ``next`` goes back to a page already read."""
        link = body.get("next")
        following = self._follow(link) if isinstance(link, str) and link else None
        return None if following in visited else following

    # DOI search ------------------------------------------------------------------------------------

    def _doi_task(self, doi: str) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            what = f"collections with DOI {doi}"
            pager = Pager(what, self._api("collections"))
            url: str | None = self._api("collections")
            params: dict[str, Any] | None = {"DOI": doi}
            visited: set[str] = set()
            matches: list[dict[str, Any]] = []
            others = 0
            while url:
                body = await get_json(ctx.client, url, ctx.policy, what=what, params=params)
                params = None  # ``next`` links carry the query
                visited.add(url)
                records = _results(body, what)
                ids = [json_field(record, "id", int, what) for record in records]
                following = self._next(body, visited)
                fresh = pager.page(ids, more=following is not None, claimed=_count(body))
                for cid, record in zip(ids, records, strict=True):
                    if cid not in fresh:
                        continue
                    fresh.discard(cid)
                    if same_doi(record.get("DOI"), doi):
                        matches.append(record)
                    else:
                        others += 1
                total = _count(body) or others
                if (
                    following
                    and others
                    and (
                        pager.pages >= DOI_SCAN_PAGES or others >= DOI_SCAN_COLLECTIONS or total > DOI_SCAN_COLLECTIONS
                    )
                ):
                    raise RemoteDataError(_ignored_filter(doi, total, [m["id"] for m in matches]))
                url = following
            if matches:
                self.selection.names.ledger.hit("--doi", doi)
            work: list[Work] = []
            for record in matches:
                if record["id"] not in self._claimed:
                    self._claimed.add(record["id"])
                    work.append(self._collection_listing(record["id"], record))
            return work

        return fetch

    # collections and their images ------------------------------------------------------------------

    def _collection_listing(self, cid: int, record: dict[str, Any] | None) -> Listing:
        async def fetch(ctx: Context) -> Sequence[Work]:
            body = record
            if body is None:
                try:
                    body = await get_json(
                        ctx.client, self._api("collections", str(cid)), ctx.policy, what=f"collection {cid}"
                    )
                except AuthError:
                    raise ItemError(f"collection {cid} is private: NeuroVault refused access (HTTP 403)") from None
                except ItemError as exc:
                    if str(exc).startswith("HTTP 404 "):  # no such collection: the run warns that it matched nothing
                        return []
                    raise
                if not isinstance(body, dict) or body.get("id") != cid:
                    raise RemoteDataError(f"collection {cid}: the answer is not that collection's record")
            self.selection.names.ledger.hit("--collection", cid)
            bisect.insort(ctx.result.extra.setdefault("collections", []), cid)
            first = self._api("collections", str(cid), "images")
            state = _Collection(cid, Pager(f"images of collection {cid}", first))
            return [
                Document((state.folder, "collection.json"), body),
                Listing(f"images of collection {cid}", self._images_task(state, first, 1)),
            ]

        return Listing(f"collection {cid}", fetch, unit=f"collection-{cid}")

    def _images_task(self, coll: _Collection, url: str, page: int) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            coll.pages.add(url)
            what = f"images of collection {coll.id}" + (f" (page {page})" if page > 1 else "")
            body = await get_json(ctx.client, url, ctx.policy, what=what)
            records = _results(body, what)
            ids = [json_field(record, "id", int, what) for record in records]
            following = self._next(body, coll.pages)
            fresh = coll.pager.page(ids, more=following is not None, claimed=_count(body))
            work: list[Work] = []
            for iid, record in zip(ids, records, strict=True):
                if iid not in fresh:  # offset paging can repeat an image (§2)
                    continue
                fresh.discard(iid)
                if self.selection.wants(record):
                    work.extend(self._image_work(coll, iid, record, ctx))
            if following is not None:
                work.append(
                    Listing(
                        f"images of collection {coll.id} (page {page + 1})",
                        self._images_task(coll, following, page + 1),
                    )
                )
            return work

        return fetch

    def _image_work(self, coll: _Collection, iid: int, record: dict[str, Any], ctx: Context) -> list[Work]:
        link = record.get("file")
        if not isinstance(link, str) or not link:
            ctx.result.fail(f"{coll.folder}/image {iid}", "the image record has no file URL")
            return []
        name = unquote(urlsplit(link).path.rsplit("/", 1)[-1])
        if not self.selection.names.accepts(name, (coll.folder, name)):
            return []
        label = f"{coll.folder}/{name if name.isprintable() else repr(name)}"
        size = record.get("file_size")
        item = FileItem(
            (coll.folder, name),
            self._follow(link),
            label=label,
            expected_size=size if isinstance(size, int) and size > 0 else None,
            check=gzip_body if name.lower().endswith(".gz") else None,
            records=(f"{name}.json",),
            meta={
                "collection": coll.id,
                "image_id": iid,
                "map_type": _text(record.get("map_type")),
                "modality": _text(record.get("modality")),
                "name": _text(record.get("name")),
            },
        )
        try:
            check_component(name)
        except UnsafeName:
            return [item]  # the engine refuses it and lists it as failed: once, not again for its record
        if name in RESERVED_NAMES or coll.names.setdefault(name, iid) != iid:
            ctx.result.fail(label, f"image {iid}: another file of the collection already uses this name")
            return []
        return [item, Document((coll.folder, f"{name}.json"), record)]


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _ignored_filter(doi: str, total: int, found: list[int]) -> str:
    hint = (
        " ".join(f"--collection {cid}" for cid in found) + " has this DOI so far"
        if found
        else "use --collection ID instead"
    )
    return (
        f"NeuroVault ignored the DOI filter: asking for DOI {doi} answered {total} collections of any DOI; "
        f"stopped instead of crawling the whole site ({hint})"
    )


def _count(body: dict[str, Any]) -> int | None:
    count = body.get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _results(body: Any, what: str) -> list[dict[str, Any]]:
    results = json_field(body, "results", list, what)
    if not all(isinstance(r, dict) for r in results):
        raise RemoteDataError(f"{what}: 'results' holds something other than records")
    return results


def index_columns(records: SidecarReader, relpath: str) -> dict[str, Any] | None:
    """A mirrored image's columns for `index`, from collection-<id>/collection.json and <file>.json beside it;
    None when the file is not where a NeuroVault mirror puts one."""
    folder = relpath.rpartition("/")[0]
    match = re.fullmatch(r"collection-(\d+)", folder)
    collection = records.json(f"{folder}/collection.json") if match else None
    if match is None or not isinstance(collection, dict):
        return None
    image = records.json(f"{relpath}.json", keep=False)
    image = image if isinstance(image, dict) else {}
    return {
        "collection": int(match.group(1)),
        "collection_name": collection.get("name"),
        "doi": collection.get("DOI"),
        "image_id": image.get("id"),
        "map_type": image.get("map_type"),
        "modality": image.get("modality"),
        "name": image.get("name"),
    }


NOTHING_SELECTED = "NeuroVault: say which collections to mirror with --collection ID or --doi DOI"


def neurovault_selection(
    collections: Sequence[str] = (),
    dois: Sequence[str] = (),
    *,
    map_types: Sequence[str] = (),
    modalities: Sequence[str] = (),
    names: NameFilter | None = None,
) -> NeuroVaultSelection:
    """A selection from what a user typed: ids checked, DOIs normalised (UsageError on bad values)."""
    if not collections and not dois:
        raise UsageError(NOTHING_SELECTED)
    return NeuroVaultSelection(
        collections=tuple(dict.fromkeys(collection_id(c) for c in collections)),
        dois=tuple(dict.fromkeys(normalise_doi(d) for d in dois)),
        map_types=tuple(map_types),
        modalities=tuple(modalities),
        names=names or NameFilter(),
    )
