"""A LORIS tree of many tiny files: `neurofetch mirror`'s peak RSS stays flat as the tree grows, and the no-op re-run
is listing-bound.

For each size of --files (about 36 files per candidate), the LORIS emulator runs in its own process
(bench/_serve.py) without added latency, every file the smallest valid MINC2 volume (~9.6 kB). In the same run:

1. `neurofetch mirror DEST --jobs J` into a fresh folder (the first run);
2. the same mirror again over the complete tree (the no-op re-run): its requests should be listings only;
3. `neurofetch ls -o files.tsv` of the same tree without QC (the listings alone), the time the re-run is
   compared with.

For each: wall time, the client's CPU time, requests the emulator answered (by kind) and the client's peak RSS.
Peak RSS that does not grow with the number of files shows that nothing neurofetch keeps grows per file.

usage: python bench/loris_large.py [--files 20000,50000,100000] [--jobs 16] [--no-write] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (
    Noise,
    Server,
    isolated_env,
    machine,
    markdown_table,
    measure,
    mib,
    neurofetch_command,
    seconds,
    settle,
    today,
    verdict,
    write_section,
)

FILES_PER_CANDIDATE = 36  # the emulator's PREVENT-AD-like mix: about 2.5 visits of about 14 files
SIZE_SCALE = 0.0001  # every file is the smallest MINC2 volume the emulator makes
RSS_TARGET_MIB = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="20000,50000,100000", help="comma-separated approximate tree sizes")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.files.split(",")]
    started, noise = time.perf_counter(), Noise()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="neurofetch-bench-large-"))
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    peaks = []
    try:
        env = isolated_env(tmp / "home", NEUROFETCH_USERNAME="demo", NEUROFETCH_PASSWORD="demo")
        for wanted in sizes:
            candidates = max(1, round(wanted / FILES_PER_CANDIDATE))
            serve_args = ["--candidates", str(candidates), "--size-scale", str(SIZE_SCALE), "--latency", "0"]
            with Server("loris", *serve_args) as server:
                files = server.info["files"]
                dest = tmp / f"tree-{files}"
                shutil.rmtree(dest, ignore_errors=True)
                mirror = [
                    *neurofetch_command(),
                    "--url",
                    server.url,
                    "--service",
                    "loris",
                    "--json",
                    "mirror",
                    str(dest),
                    "--jobs",
                    str(args.jobs),
                ]
                for label, fresh in (("first run", True), ("no-op re-run", False)):
                    settle(drop_caches=fresh)
                    server.clear()
                    print(f"{files:,} files: {label} …", flush=True)
                    run = measure(mirror, env=env)
                    rows.append(_row(files, label, run, server.stats()))
                    peaks.append(run.rss_mib)
                server.clear()
                print(f"{files:,} files: ls …", flush=True)
                table = tmp / "files.tsv"
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
                    cwd=tmp,
                )
                rows.append(_row(files, "`ls` (listings only)", run, server.stats()))
                shutil.rmtree(dest)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - started
    headers = ["files", "run", "wall", "client CPU", "requests", "file GETs", "QC GETs", "peak RSS"]
    text = f"""## LORIS: a tree of many tiny files

Measured {today()} by `python bench/loris_large.py` ({elapsed:.0f} s in all) on {machine()}.

Emulator (own process) without added latency; every file the smallest MINC2 volume it makes; `mirror --jobs
{args.jobs}` into a fresh folder, then again over the complete tree (no-op re-run), then `ls -o` of the same
tree (the listings alone). Peak RSS is the client's own (VmHWM from /proc); client CPU is its user + system
seconds (wait4), steadier than wall time on a shared machine.

{markdown_table(headers, rows)}

Target: peak RSS ≤ {RSS_TARGET_MIB:.0f} MiB at every size: {verdict(max(peaks) <= RSS_TARGET_MIB, mib(max(peaks)))}.
{noise.note()}"""
    print()
    print(text)
    if not args.no_write:
        write_section("loris-large", text)


def _row(files: int, label: str, run: object, stats: dict) -> list[object]:
    by_kind = stats["by_kind"]
    return [
        f"{files:,}",
        label,
        seconds(run.wall),
        f"{run.cpu:.2f} s",  # type: ignore[attr-defined]
        f"{stats['requests']:,}",  # type: ignore[attr-defined]
        f"{by_kind.get('file', 0):,}",
        f"{by_kind.get('qc', 0):,}",
        mib(run.rss_mib),
    ]  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
