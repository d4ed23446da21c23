"""neurofetch from Python: the same operations as the command line, returning plain data.

    >>> from neurofetch import api
    >>> rows = api.ls(profile="preventad", visit=["NAPBL00"])
    >>> frame = api.to_pandas(rows)          # needs pandas
    >>> frame[frame.output_type == "native"].to_csv("chosen.csv", index=False)

and then ``neurofetch mirror DEST --from-manifest chosen.csv``.
"""

from __future__ import annotations

import contextlib
import importlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neurofetch.services.s3 import S3Settings
    from neurofetch.settings import Profile
    from neurofetch.transfer.catalog import Column
    from neurofetch.transfer.results import RunResult

Row = dict[str, Any]
ROWS_IN_FLIGHT = 1024    # rows found but not yet consumed: bounds memory whatever the listing's size


def ls(target: str | None = None, *, profile: str | Profile | None = None, url: str | None = None,
       service: str | None = None, no_input: bool = True, endpoint_url: str | None = None,
       aws_profile: str | None = None, region: str | None = None, **selection: Any) -> Rows:
    """The rows `neurofetch ls` prints: one per file `mirror` / `atlas-image` / `s3-sync` would fetch.

    ``target`` is ``s3://BUCKET/PREFIX`` for S3; otherwise the profile (a name, or ``url`` + ``service``) says
    which service. ``selection`` takes the names of the command-line options (candidate, visit, qc, level,
    collection, doi, map_type, modality, channel, status, tag, project, mimetype, date_from, date_to, include,
    exclude, shard; allen: an AtlasImageRequest). Rows stream while the crawl goes on.
    """
    from neurofetch.operations import ls as catalog

    if target is not None and target.startswith("s3://"):
        from neurofetch.services.s3 import S3Settings

        settings = S3Settings(endpoint_url, aws_profile, region)
        filters = [("exclude", p) for p in selection.pop("exclude", ())] + [("include", p) for p in
                                                                            selection.pop("include", ())]
        return ls_s3(target, settings, filters, selection.pop("shard", None))
    chosen = _profile(profile, url, service)
    query = catalog.ls_query(**selection)
    return Rows(catalog.columns(chosen.service, query), catalog.prepare(chosen, query, no_input=no_input))


def ls_s3(url: str, settings: S3Settings, filters: Sequence[tuple[str, str]] = (), shard: str | None = None) -> Rows:
    """`ls s3://BUCKET/PREFIX` with aws-style ordered filters (("include"|"exclude", pattern), ...)."""
    from neurofetch.operations import ls as catalog

    return Rows(catalog.columns("s3", catalog.LsQuery()), catalog.prepare_s3(url, settings, filters, shard))


def to_pandas(rows: Rows | Sequence[Row]) -> Any:
    """A pandas DataFrame of ``rows`` (from :func:`ls`), with the table's columns in order."""
    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        raise ImportError("to_pandas needs pandas: pip install pandas") from None
    columns = [c.name for c in rows.columns] if isinstance(rows, Rows) else None
    return pandas.DataFrame.from_records(list(rows), columns=columns)


class Rows:
    """The rows of one `ls` run, produced while they are read; ``result`` (counts, failures) once read through."""

    def __init__(self, columns: list[Column], run: Callable[[Callable[[Row], None]], RunResult]) -> None:
        self.columns = columns
        self.result: RunResult | None = None
        self._run = run

    def __iter__(self) -> Iterator[Row]:
        rows: queue.Queue[Any] = queue.Queue(ROWS_IN_FLIGHT)
        stop = threading.Event()
        end = object()
        failure: list[BaseException] = []

        def put(item: Any) -> None:
            while not stop.is_set():
                try:
                    rows.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            raise _Abandoned

        def produce() -> None:
            try:
                self.result = self._run(put)
            except _Abandoned:
                pass
            except BaseException as exc:   # handed to the reader, who raises it
                failure.append(exc)
            finally:
                with contextlib.suppress(_Abandoned):
                    put(end)

        worker = threading.Thread(target=produce, name="neurofetch-ls", daemon=True)
        worker.start()
        try:
            while (item := rows.get()) is not end:
                yield item
        finally:
            stop.set()
            worker.join()
        if failure:
            raise failure[0]


class _Abandoned(Exception):
    """The reader stopped reading: the crawl ends."""


def _profile(profile: str | Profile | None, url: str | None, service: str | None) -> Profile:
    from neurofetch.settings import GlobalOptions, Profile, select_profile

    if isinstance(profile, Profile):
        return profile
    return select_profile(GlobalOptions(profile=profile, url=url, service=service))
