"""S3 behind a front in an outage: moto's server behind a reverse proxy with the emulators' fault middleware, which
answers some requests (listings and object reads alike) with nginx/Apache 502/503/504 HTML pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neurofetch.emulators.common import FaultMiddleware, Faults, RequestLog, RunningServer
from tests.resilience_support import the_error_line
from tests.s3.fronts import FILES, ReverseProxy, sync_down
from tests.s3.helpers import S3Env, read_tree


@contextmanager
def front(s3: S3Env, faults: str) -> Iterator[tuple[str, RequestLog]]:
    log = RequestLog()
    server = RunningServer(FaultMiddleware(ReverseProxy(s3.endpoint), Faults.parse(faults), log)).start()
    try:
        yield server.origin, log
    finally:
        server.stop()


def test_html_outage_pages_are_retried_until_every_object_is_exact(moto_bucket: S3Env, tmp_path: Path) -> None:
    with front(moto_bucket, "html_outage=0.3,seed=3") as (endpoint, log):
        result = sync_down(moto_bucket, endpoint, tmp_path / "d", AWS_MAX_ATTEMPTS="20")
        outages = [e for e in log.entries() if e.status in (502, 503, 504)]
    assert result.code == 0, result.stderr
    assert read_tree(tmp_path / "d") == FILES
    assert {e.status for e in outages} == {502, 503, 504}
    assert any(e.method == "GET" and e.path.endswith(".bin") for e in outages)


def test_a_lasting_outage_ends_in_one_line_naming_the_status(moto_bucket: S3Env, tmp_path: Path) -> None:
    with front(moto_bucket, "html_outage=1") as (endpoint, _log):
        result = sync_down(moto_bucket, endpoint, tmp_path / "d", AWS_MAX_ATTEMPTS="2")
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert re.search(r"\b50[234]\b", line) and "XML" not in line and "JSON" not in line, line
