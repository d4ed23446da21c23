"""Benchmark: a no-op re-run over a complete LORIS tree, walking every listing against `mirror --since last`.

The emulator (own process, bench/_serve.py) serves API v0.0.4-dev, whose project images take ?since=, with the
dataset and latency of bench/loris_mirror.py (30 candidates, 20 ms added to every response). One mirror fills the
tree; then the same mirror again (the full walk of candidates, visits and image lists) and `mirror --since last`
(one request per project) are timed, with the requests the emulator answered.

usage: python bench/loris_since.py [--candidates 30] [--size-scale 0.05] [--latency 0.02] [--jobs 16] [--no-write]
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
    rows = []
    with tempfile.TemporaryDirectory(prefix="neurofetch-bench-since-") as tmp:
        work = Path(tmp)
        env = isolated_env(work / "home", NEUROFETCH_USERNAME="demo", NEUROFETCH_PASSWORD="demo")
        serve_args = [
            "--candidates",
            str(args.candidates),
            "--size-scale",
            str(args.size_scale),
            "--latency",
            str(args.latency),
            "--api-version",
            "v0.0.4-dev",
        ]
        with Server("loris", *serve_args) as server:
            info = server.info
            mirror = [
                *neurofetch_command(),
                "--url",
                server.url,
                "--service",
                "loris",
                "--json",
                "mirror",
                str(work / "tree"),
                "--jobs",
                str(args.jobs),
            ]
            for label, extra in (
                ("first run (fills the tree)", []),
                ("no-op re-run, full walk", []),
                ("no-op re-run, --since last", ["--since", "last"]),
            ):
                server.clear()
                print(f"{label} …", flush=True)
                run = measure([*mirror, *extra], env=env, cwd=work)
                stats = server.stats()
                result = run.json()
                if result.get("status") != "ok":
                    raise SystemExit(f"{label}: {result}")
                listings = {k: v for k, v in stats["by_kind"].items() if k not in ("login", "file", "qc")}
                rows.append(
                    [
                        label,
                        seconds(run.wall),
                        seconds(result["seconds"]),
                        f"{stats['requests']:,}",
                        f"{sum(listings.values()):,}",
                        ", ".join(f"{v} {k}" for k, v in stats["by_kind"].items()),
                        mib(run.rss_mib),
                        f"{result['counts'].get('downloaded', 0):,}",
                    ]
                )
    walk, since = rows[1], rows[2]
    text = f"""## LORIS no-op re-run with `--since last`

Measured {today()} by `python bench/loris_since.py` ({time.perf_counter() - started:.0f} s in all) on {machine()}.
Emulator: API v0.0.4-dev, {info["files"]:,} files in {info["visits"]} visits of {info["candidates"]} candidates,
{args.latency * 1000:.0f} ms added to every response; `neurofetch mirror DEST --jobs {args.jobs}` three times.

{
        markdown_table(
            ["run", "wall", "of it, the run", "requests", "listing requests", "by kind", "peak RSS", "downloaded"], rows
        )
    }

Wall is the whole process (Python start-up and imports included); "of it, the run" is the time neurofetch
reports from logging in to the summary.

`--since last` over the complete tree lists once: {verdict(since[4] == "1", since[4] + " listing request")}
(the full walk: {walk[4]}).
"""
    print(text)
    if not args.no_write:
        write_section("loris-since", text)


if __name__ == "__main__":
    main()
