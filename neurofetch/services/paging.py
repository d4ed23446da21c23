"""One guard for every paged listing: a server whose pages never end is stopped with one line (exit 5).

A listing ends when the server says so (no ``next``, a short page, the announced total reached). A broken or
hostile server can keep saying "more": ``next`` links that move on forever, ``offset`` ignored (the same page
again and again), or a total of millions served one row at a time. Each page goes through :meth:`Pager.page`,
which stops the run when

- a page brings no rows while the server still claims more (no progress),
- pages bring only rows already seen, more than once in a row (the server repeats itself),
- there are more pages than the server's own figures allow: its announced total divided by the rows of its
  first page, plus some slack.

Only what actually arrived is kept (the keys of rows seen); nothing is ever sized from a server's count.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from neurofetch.errors import EndlessListingError

STALE_PAGES_ALLOWED = 1  # rows shifting between offset pages can repeat a small page once, not twice in a row
SLACK_PAGES = 2  # pages beyond the announced figures that are forgiven...
SLACK_FRACTION = 0.1  # ...plus this fraction of them (items added while the crawl runs)


@dataclass
class Pager:
    """The progress of one paged listing. ``what`` and ``url`` name it in the error."""

    what: str
    url: str
    seen: set[Hashable] = field(default_factory=set)
    pages: int = 0
    stale: int = 0
    max_pages: int | None = None

    def page(self, keys: Iterable[Hashable], *, more: bool, claimed: int | None = None) -> set[Hashable]:
        """Record one page by the keys of its rows; return the keys not seen on earlier pages.

        ``more``: the server says more pages follow. ``claimed``: the total number of rows it announces.
        """
        rows = list(keys)
        fresh = {key for key in rows if key not in self.seen}
        self.seen.update(fresh)
        self.pages += 1
        if self.max_pages is None and claimed is not None and rows:
            expected = math.ceil(max(claimed, len(rows)) / len(rows))
            self.max_pages = expected + SLACK_PAGES + int(expected * SLACK_FRACTION)
        if not more:
            return fresh
        if not rows:
            said = f", though it announces {claimed} rows" if claimed is not None else ""
            self._stop(f"page {self.pages} is empty{said}")
        self.stale = 0 if fresh else self.stale + 1
        if self.stale > STALE_PAGES_ALLOWED:
            self._stop(f"{self.stale} pages in a row repeat rows already listed")
        if self.max_pages is not None and self.pages >= self.max_pages:
            self._stop(f"more than {self.max_pages} pages, which is more than its own total allows")
        return fresh

    def _stop(self, why: str) -> None:
        raise EndlessListingError(f"{self.what}: the server's paging does not end ({why}); stopped ({self.url})")
