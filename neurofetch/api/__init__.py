"""The public Python surface: each command as a function a script or a notebook can call, returning the data
the command shows (a RunResult is the ``--json`` document as an object).

    >>> from neurofetch import api
    >>> result = api.mirror("~/data/preventad", profile="preventad", candidate=["300001"])
    >>> result.counts, result.failures
    >>> rows = api.index("~/data/preventad")
    >>> frame = api.to_pandas(rows)          # needs pandas

Every function works in a plain script and inside a running event loop (Jupyter, IPython, an ``async def``
caller): there the run goes on a thread of its own. Ctrl-C or a kernel interrupt stops the run cleanly and raises
:class:`neurofetch.errors.Interrupted` (its ``result`` says what was done); calling again resumes. Problems raise
the typed exceptions of :mod:`neurofetch.errors`. See docs/python.md.
"""

from __future__ import annotations

from neurofetch.api.atlas import atlas_image_params, atlas_image_request
from neurofetch.api.auth import LoginOutcome, LogoutOutcome, login, logout
from neurofetch.api.checks import CheckOutcome, check_profile
from neurofetch.api.datamint import publish, upload
from neurofetch.api.index import IndexIntegrityError, IndexRow, bag, index, index_columns, to_pandas
from neurofetch.api.listing import Rows, ls, ls_s3
from neurofetch.api.mirror import atlas_image, mirror
from neurofetch.api.sync import s3_sync
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.limits import given_limits
from neurofetch.transfer.results import RunResult

__all__ = [
    "CheckOutcome",
    "IndexIntegrityError",
    "IndexRow",
    "LoginOutcome",
    "LogoutOutcome",
    "Reporter",
    "Rows",
    "RunResult",
    "atlas_image",
    "atlas_image_params",
    "atlas_image_request",
    "bag",
    "check_profile",
    "given_limits",
    "index",
    "index_columns",
    "login",
    "logout",
    "ls",
    "ls_s3",
    "mirror",
    "publish",
    "s3_sync",
    "to_pandas",
    "upload",
]
