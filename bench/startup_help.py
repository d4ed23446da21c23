"""Benchmark 6: start-up time, the median wall time of `neurofetch --help` (target ≤ 200 ms), written into
docs/benchmarks.md.

The measurement itself is bench/startup.py's (the same commands, next to `aws --help` when aws-cli is installed,
and `python -c pass`, the interpreter alone): this script runs it, adds each command's peak RSS and the imports
that cost most in one `neurofetch --help` (PYTHONPROFILEIMPORTTIME), and writes the table.

usage: python bench/startup_help.py [--runs 30] [--no-write]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import Noise, machine, markdown_table, measure, mib, today, verdict, write_section
from startup import commands, timings

TARGET_MS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started, noise, where = time.perf_counter(), Noise(), machine()
    found = {name: argv for name, argv in commands().items() if argv}
    walls = {}
    for name, argv in found.items():
        print(f"{name} …", flush=True)
        walls[name] = sorted(w * 1000 for w in timings(argv, args.runs))
    rss = {name: measure(argv, check=False).rss_mib for name, argv in found.items()}
    profile = measure(
        found["neurofetch --help"], env={"PYTHONPROFILEIMPORTTIME": "1", "COLUMNS": "100", "PATH": "/usr/bin:/bin"}
    )
    noise_note = noise.note()
    elapsed = time.perf_counter() - started

    aws = statistics.median(walls["aws --help"]) if "aws --help" in walls else None
    rows = []
    for name, values in walls.items():
        median = statistics.median(values)
        p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
        rows.append(
            [
                f"`{name}`",
                f"{median:.0f} ms",
                f"{values[0]:.0f} ms",
                f"{p90:.0f} ms",
                mib(rss[name]),
                f"{median / aws:.2f}×" if aws else "–",
            ]
        )
    no_aws = "" if aws else " aws-cli is not installed: no aws row."
    help_ms = statistics.median(walls["neurofetch --help"])
    floor_ms = statistics.median(walls["python -c pass"])
    import_rows = [[f"`{name}`", f"{ms:.0f} ms"] for name, ms in top_imports(profile.err)]
    text = f"""## 6. Start-up: `neurofetch --help`

Measured {today()} by `python bench/startup_help.py` ({elapsed:.0f} s in all), which runs bench/startup.py's
measurement ({args.runs} fresh processes per command after one warm-up, wall time from spawn to exit), on {where}.

{markdown_table(["command", "median", "best", "90th percentile", "peak RSS", "vs aws --help"], rows)}

Target: median of `neurofetch --help` ≤ {TARGET_MS} ms: {verdict(help_ms <= TARGET_MS, f"{help_ms:.0f} ms")}
({floor_ms:.0f} ms of it is the interpreter starting).{no_aws}

Top-level imports that cost most in one `neurofetch --help` (PYTHONPROFILEIMPORTTIME, cumulative; the profiling
itself slows imports down):

{markdown_table(["module", "cumulative import time"], import_rows)}
{noise_note}"""
    print()
    print(text)
    if not args.no_write:
        write_section("startup", text)


def top_imports(stderr: str, count: int = 8) -> list[tuple[str, float]]:
    """The slowest top-level imports in ``-X importtime`` output: (module, cumulative ms)."""
    found = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) <= 1:  # top level: one space of indentation
            found.append((match.group(4), int(match.group(2)) / 1000))
    return sorted(found, key=lambda item: -item[1])[:count]


if __name__ == "__main__":
    main()
