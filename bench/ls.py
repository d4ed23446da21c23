"""Benchmark: `neurofetch ls` of the 1,000-file LORIS benchmark tree (bench/loris_mirror.py's emulator, in its own
process with 20 ms added to every response) issues only listing requests: no file and no QC request, nothing
written but the table. Reports wall time, requests by kind, rows and the client's peak RSS.

usage: python bench/ls.py [--candidates 30] [--size-scale 0.05] [--latency 0.02] [--jobs 16] [--no-write]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (
    Server,
    isolated_env,
    loris_tree_parser,
    machine,
    markdown_table,
    measure,
    mib,
    neurofetch_command,
    seconds,
    today,
    verdict,
    write_section,
)


def main() -> None:
    parser = loris_tree_parser(__doc__)
    parser.add_argument("--jobs", type=int, default=16)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="neurofetch-bench-ls-") as tmp:
        work = Path(tmp)
        env = isolated_env(work / "home", NEUROFETCH_USERNAME="demo", NEUROFETCH_PASSWORD="demo")
        serve_args = [
            "--candidates",
            str(args.candidates),
            "--size-scale",
            str(args.size_scale),
            "--latency",
            str(args.latency),
        ]
        with Server("loris", *serve_args) as server:
            table = work / "files.tsv"
            server.clear()
            run = measure(
                [
                    *neurofetch_command(),
                    "--url",
                    server.url,
                    "--service",
                    "loris",
                    "--json",
                    "ls",
                    "-o",
                    str(table),
                    "--jobs",
                    str(args.jobs),
                ],
                env=env,
                cwd=work,
            )
            stats = server.stats()
            info = server.info
        result = run.json()
        rows = sum(1 for _ in table.open()) - 1
        left_behind = sorted(p.name for p in work.iterdir() if p.name not in ("home", "files.tsv"))
    by_kind = stats["by_kind"]
    fetched = by_kind.get("file", 0) + by_kind.get("qc", 0)
    text = f"""## `ls` of the LORIS benchmark tree

Measured {today()} by `python bench/ls.py` ({time.perf_counter() - started:.0f} s in all) on {machine()}.
Emulator: {info["files"]:,} files in {info["visits"]} visits of {info["candidates"]} candidates,
{args.latency * 1000:.0f} ms added to every response. `neurofetch ls -o files.tsv --jobs {args.jobs}`.

{
        markdown_table(
            ["rows", "wall", "requests", "by kind", "peak RSS", "client CPU"],
            [
                [
                    f"{rows:,}",
                    seconds(run.wall),
                    f"{stats['requests']:,}",
                    ", ".join(f"{v} {k}" for k, v in by_kind.items()),
                    mib(run.rss_mib),
                    seconds(run.cpu),
                ]
            ],
        )
    }

Only listings (no file, no QC request): {verdict(fetched == 0, f"{fetched} file/QC requests")};
one row per file: {verdict(rows == info["files"] == result["counts"]["rows"], f"{rows:,} rows")};
nothing written but the table: {verdict(not left_behind, ", ".join(left_behind) or "nothing")}.
"""
    print(text)
    if not args.no_write:
        write_section("ls", text)


if __name__ == "__main__":
    main()
