"""`mirror --since DATE|last` on LORIS: list only what changed, where the server can say what did.

``GET /projects/{P}/images?since=T`` (v0.0.4-dev) lists the project's files inserted after T. Only candidates and
visits with a file not yet complete here are listed further (one visit listing tells the rest of the visit), so a
re-run over a complete tree costs one request per project. ``last`` is the start of the last complete run of the
same selection, kept in the journal with the projects it saw. Where the server cannot filter (an older version, or
an answer with older files in it), the run says so once and lists everything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import unquote

from neurofetch.net.http import get_json, json_field
from neurofetch.services.loris.selection import LorisSelection, Since
from neurofetch.services.loris.versions import LorisApi
from neurofetch.transfer.context import Context
from neurofetch.transfer.journal import Journal
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.work import Document, Fetch, Listing, Work

RECORD_PREFIX = "loris:complete-run:"
# Files inserted on the server while a run listed, or stamped by a server clock behind ours, are listed again:
# the overlap costs nothing for files already complete.
CLOCK_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class CompleteRun:
    started: datetime
    projects: tuple[str, ...]


def selection_key(selection: LorisSelection) -> str:
    """What a complete run covered: its candidates, visits and name patterns (QC records are no part of it)."""
    names = selection.names
    return json.dumps(
        [sorted(selection.candidates), sorted(selection.visits), list(names.include), list(names.exclude)],
        separators=(",", ":"),
    )


def last_complete_run(journal: Journal, selection: LorisSelection) -> CompleteRun | None:
    """The latest complete run that covered this selection: its own, or one that took everything."""
    runs = [_read(journal.get_record(RECORD_PREFIX + key)) for key in (selection_key(selection), _EVERYTHING)]
    found = [run for run in runs if run is not None]
    return max(found, key=lambda run: run.started) if found else None


_EVERYTHING = json.dumps([[], [], [], []], separators=(",", ":"))


def _read(text: str | None) -> CompleteRun | None:
    try:
        data = json.loads(text or "")
        started = datetime.fromisoformat(data["started"])
        projects = tuple(str(p) for p in data["projects"])
    except (ValueError, KeyError, TypeError):
        return None
    return CompleteRun(started, projects) if started.tzinfo else None


def record_complete_run(journal: Journal, selection: LorisSelection, run: CompleteRun) -> None:
    value = json.dumps({"started": run.started.isoformat(), "projects": sorted(run.projects)})
    journal.put_record(RECORD_PREFIX + selection_key(selection), value)


class CrawledSource(Protocol):
    """What the change listing uses of the LORIS crawl it narrows (source.py's LorisSource)."""

    selection: LorisSelection
    api: LorisApi
    projects_seen: set[str]

    async def list_candidates(self, ctx: Context) -> Sequence[Work]: ...

    def url_of(self, *segments: str) -> str: ...

    def safe_name(self, ctx: Context, item: str, name: str) -> bool: ...

    def visit_task(self, cand: str, visit: str, meta: dict[str, str | None]) -> Fetch: ...


class ChangeListing:
    """The root listing of a ``--since`` run, and what it learnt for recording the run as complete."""

    def __init__(self, source: CrawledSource, since: Since | None) -> None:
        self.source = source
        self.since = since
        self.started = datetime.now(timezone.utc)
        self.projects: set[str] = set()
        self.covers_from: datetime | None = None  # None: everything was listed

    def finished(self, journal: Journal, result: RunResult) -> None:
        """Record this run as complete when it is: nothing failed, and it listed everything or continued a
        complete run without a gap."""
        if result.status != "ok":
            return
        if self.covers_from is not None:
            previous = last_complete_run(journal, self.source.selection)
            if previous is None or self.covers_from > previous.started:
                return
        projects = self.projects | self.source.projects_seen
        record_complete_run(journal, self.source.selection, CompleteRun(self.started, tuple(projects)))

    async def everything(self, ctx: Context, why: str | None) -> Sequence[Work]:
        if why:
            ctx.result.warnings.append(why)
        self.covers_from = None
        return await self.source.list_candidates(ctx)

    async def __call__(self, ctx: Context) -> Sequence[Work]:
        selection, api = self.source.selection, self.source.api
        previous = last_complete_run(ctx.journal, selection)
        if self.since is None:
            return await self.everything(ctx, None)
        if self.since.when is not None:
            cutoff = self.since.when
        elif previous is not None:
            cutoff = previous.started - CLOCK_MARGIN
        else:
            return await self.everything(
                ctx,
                "--since last: no complete run of this selection is recorded in "
                "DEST yet, so everything was listed (the next run can use it)",
            )
        if not api.offers_since:
            return await self.everything(
                ctx,
                f"--since is not supported by this LORIS server (API {api.version}; "
                "project images take ?since= from v0.0.4-dev on): listed everything",
            )
        projects = previous.projects if previous and previous.projects else await self._projects(ctx)
        rows: list[Any] = []
        for project in projects:
            listed = await self._images(ctx, project, cutoff)
            if listed is None:
                return await self.everything(
                    ctx,
                    "--since: this LORIS server ignored ?since= (it listed files "
                    "older than the date): listed everything",
                )
            rows += listed
        self.projects.update(projects)
        self.covers_from = cutoff
        for flag in ("--candidate", "--visit", "--include"):  # not all was listed: no value "matched nothing"
            selection.names.ledger.hit_all(flag)
        return self._changed_visits(ctx, rows)

    async def _projects(self, ctx: Context) -> list[str]:
        url = self.source.url_of("projects")
        body = await get_json(ctx.client, url, ctx.policy, what="project list")
        return [str(name) for name in json_field(body, "Projects", dict, "project list", url)]

    async def _images(self, ctx: Context, project: str, cutoff: datetime) -> list[Any] | None:
        """The project's files inserted after ``cutoff``; None when the answer shows the server did not filter."""
        url = self.source.url_of("projects", project, "images")
        what = f"images of project {project} since {cutoff.isoformat()}"
        body = await get_json(
            ctx.client,
            url,
            ctx.policy,
            what=what,
            params={"since": cutoff.astimezone(timezone.utc).isoformat(timespec="seconds")},
        )
        rows = json_field(body, "Images", list, what, url)
        return rows if all(_usable(row, cutoff) for row in rows) else None

    def _changed_visits(self, ctx: Context, rows: list[Any]) -> list[Work]:
        """One candidate listing per candidate with a changed file not complete here, naming its visits."""
        selection = self.source.selection
        changed: dict[str, dict[str, None]] = {}
        meta: dict[str, dict[str, str | None]] = {}
        for row in rows:
            cand, visit, name = _place(row)
            if (selection.candidates and cand not in selection.candidates) or (
                selection.visits and visit not in selection.visits
            ):
                continue
            qc_done = not selection.qc or ctx.exists((cand, visit, f"{name}.qc.json"))
            if ctx.is_complete((cand, visit, name)) and qc_done:
                continue
            changed.setdefault(cand, {})[visit] = None
            meta.setdefault(cand, {"candid": cand, "pscid": _text(row.get("PSCID")), "site": _text(row.get("Site"))})
        return [
            Listing(f"candidate {cand}", self._candidate_task(cand, list(visits), meta[cand]), unit=cand)
            for cand, visits in changed.items()
            if self.source.safe_name(ctx, f"candidate {cand}", cand)
        ]

    def _candidate_task(self, cand: str, visits: list[str], meta: dict[str, str | None]) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            url = self.source.url_of("candidates", cand)
            body = await get_json(ctx.client, url, ctx.policy, what=f"candidate {cand}")
            work: list[Work] = [Document((cand, "candidate.json"), body)]
            work += [
                Listing(f"visit {cand}/{visit}", self.source.visit_task(cand, visit, meta))
                for visit in visits
                if self.source.safe_name(ctx, f"visit {cand}/{visit}", visit)
            ]
            return work

        return fetch


def _place(row: dict[str, Any]) -> tuple[str, str, str]:
    """Candidate, visit and file name of a project image row (the name is the last segment of its Link)."""
    return str(row["Candidate"]), str(row["Visit"]), unquote(str(row["Link"]).rstrip("/").rsplit("/", 1)[-1])


def _usable(row: Any, cutoff: datetime) -> bool:
    """A row that names its file and was inserted after ``cutoff`` (the proof that the server filtered)."""
    if not isinstance(row, dict) or not all(isinstance(row.get(key), str) for key in ("Link", "Visit")):
        return False
    try:
        inserted = datetime.fromisoformat(str(row["InsertTime"]))
    except (ValueError, KeyError, TypeError):
        return False
    return row.get("Candidate") is not None and inserted.tzinfo is not None and inserted > cutoff


def _text(value: object) -> str | None:
    return None if value is None else str(value)
