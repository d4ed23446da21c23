"""A tree of any size is mirrored with bounded bookkeeping: what the run keeps per file does not pile up."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli
from tests.resilience_support import data_files, serve_loris


def test_each_visits_qc_records_are_fetched_before_the_next_visit_is_listed(tmp_path: Path) -> None:
    """The per-file work a listing finds runs before more listings: the files whose QC record is still
    to be fetched never add up to the whole tree (they were all held until every visit was listed)."""
    dest = tmp_path / "d"
    with serve_loris(candidates=4, size_scale=0.0001) as loris:
        result = run_cli("--json", "mirror", dest, env=loris.env(NEUROFETCH_JOBS="1"))
        log = [e.path for e in loris.emulator.log.entries() if e.method == "GET"]
        expected = loris.dataset.expected_tree()
        largest_visit = max(len(v.files) for c in loris.dataset.candidates for v in c.visits)
    assert result.code == 0, result.stderr
    assert data_files(dest) == expected
    waiting = most_waiting = 0  # files listed whose QC record was not yet asked for
    for path in log:
        if path.endswith("/images"):
            most_waiting = max(most_waiting, waiting)
        elif path.endswith("/qc"):
            waiting -= 1
        elif "/images/" in path:
            waiting += 1
    assert waiting == 0 and len(expected) > 2 * largest_visit
    assert most_waiting <= largest_visit
