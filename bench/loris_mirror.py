"""Benchmarks 1 and 2: `neurofetch mirror` of a LORIS server against the sequential PREVENT-AD script, and the
no-op re-run over the complete tree.

The LORIS emulator runs in its own process (bench/_serve.py) with 20 ms added to every response and a
PREVENT-AD-like dataset of 1,000 files (30 candidates; the real size mix scaled by 0.05). In the same run:

1. the baseline, bench/baselines/loris_sequential.py (what LAMID_PREVENT-AD.py does: one requests.get at a time);
2. `neurofetch mirror DEST --jobs J` for each J of --jobs, each into a fresh folder;
3. bench/baselines/loris_floor.py at the largest J: a bare aiohttp crawler doing the same requests and none of
   neurofetch's checks, the floor this machine and emulator allow;
4. the same mirror again over the complete tree of the largest J (the no-op re-run).

For each: wall time, requests the emulator answered (by kind), the client's peak RSS and CPU time, the speed-up
over the baseline, and the ratio to the lower bound max(requests × latency / jobs, bytes / loopback bandwidth),
the bandwidth being what curl gets from the same emulator code without latency.

usage: python bench/loris_mirror.py [--candidates 30] [--size-scale 0.05] [--latency 0.02] [--jobs 1,4,16]
                                    [--no-write] [--keep DIR]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (
    PYTHON,
    ROOT,
    Noise,
    Server,
    isolated_env,
    loopback_bandwidth,
    loris_mirror_command,
    loris_tree_parser,
    machine,
    markdown_table,
    measure,
    mib,
    ratio,
    seconds,
    settle,
    today,
    verdict,
    write_section,
)

BASELINE = ROOT / "bench" / "baselines" / "loris_sequential.py"
FLOOR = ROOT / "bench" / "baselines" / "loris_floor.py"
SPEEDUP_TARGET, BOUND_TARGET, RERUN_SHARE_TARGET = 15.0, 1.5, 0.10
REPEAT_UNDER = 15.0  # seconds


def main() -> None:
    parser = loris_tree_parser(__doc__, no_write=False)
    parser.add_argument("--jobs", default="1,4,16", help="comma-separated --jobs values for neurofetch")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help=f"runs shorter than {REPEAT_UNDER} s are repeated up to this many times in all; the median is reported",
    )
    parser.add_argument("--no-write", action="store_true", help="print the tables, leave docs/benchmarks.md alone")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    jobs_list = [int(j) for j in args.jobs.split(",")]

    started, noise = time.perf_counter(), Noise()
    where = machine()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="neurofetch-bench-loris-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        print("measuring loopback bandwidth (curl from the emulator, no latency) …", flush=True)
        bandwidth = loopback_bandwidth(tmp)
        print(f"  {bandwidth / 1e6:.0f} MB/s", flush=True)
        env = isolated_env(tmp / "home", NEUROFETCH_USERNAME="demo", NEUROFETCH_PASSWORD="demo")
        serve_args = [
            "--candidates",
            str(args.candidates),
            "--size-scale",
            str(args.size_scale),
            "--latency",
            str(args.latency),
        ]
        with Server("loris", *serve_args) as server:
            info = server.info
            runs: dict[str, dict] = {}
            settled = ""

            def record(name: str, jobs: int, cmd: list[str], dest: Path, *, fresh: bool = True) -> dict:
                """Run ``cmd``; a run shorter than REPEAT_UNDER seconds is repeated up to --repeat times in all
                (into a fresh ``dest`` when ``fresh``) and the median run is kept."""
                nonlocal settled
                measured = []
                while True:
                    if fresh and dest.exists():
                        shutil.rmtree(dest)
                    note = settle(drop_caches=fresh)
                    settled = note if fresh else settled
                    server.clear()
                    print(f"{name} (jobs {jobs}) …", flush=True)
                    run = measure(cmd, env=env)
                    stats = server.stats()
                    print(
                        f"  {run.wall:.2f} s, {stats['requests']} requests {stats['by_kind']}, peak RSS "
                        f"{run.rss_mib:.0f} MiB, CPU {run.cpu:.1f} s (emulator {stats['server_cpu']:.1f} s)",
                        flush=True,
                    )
                    bad = {k: v for k, v in stats["by_status"].items() if k not in ("200", "304")}
                    if bad:
                        raise SystemExit(f"{name}: the emulator answered errors: {bad}")
                    measured.append((run, stats))
                    if len(measured) >= args.repeat or run.wall >= REPEAT_UNDER:
                        break
                run, stats = sorted(measured, key=lambda m: m[0].wall)[len(measured) // 2]
                bound = max(stats["requests"] * args.latency / jobs, info["bytes"] / bandwidth)
                return {
                    "name": name,
                    "jobs": jobs,
                    "run": run,
                    "stats": stats,
                    "bound": bound,
                    "walls": [m[0].wall for m in measured],
                }

            base_dest = tmp / "baseline"
            runs["baseline"] = record("baseline", 1, [PYTHON, str(BASELINE), server.url, str(base_dest)], base_dest)
            transport = runs["baseline"]["run"].json()["transport"]
            shutil.rmtree(base_dest)
            for jobs in jobs_list:
                dest = tmp / f"neurofetch-j{jobs}"
                entry = record("neurofetch", jobs, mirror_cmd(server.url, dest, jobs), dest)
                check(entry, info["files"], dest)
                runs[f"j{jobs}"] = entry
                if jobs != max(jobs_list):
                    shutil.rmtree(dest)
            top = max(jobs_list)
            floor_dest = tmp / "floor"
            runs["floor"] = record(
                "floor", top, [PYTHON, str(FLOOR), server.url, str(floor_dest), "--jobs", str(top)], floor_dest
            )
            shutil.rmtree(floor_dest)
            dest = tmp / f"neurofetch-j{top}"
            rerun = record("neurofetch re-run", top, mirror_cmd(server.url, dest, top), dest, fresh=False)
            rerun["result"] = rerun["run"].json()
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    noise_note = noise.note()
    elapsed = time.perf_counter() - started

    base = runs["baseline"]
    for entry in runs.values():
        entry["speedup"] = base["run"].wall / entry["run"].wall
    headers = [
        "client",
        "jobs",
        "wall",
        "runs",
        "requests",
        "file GETs",
        "peak RSS",
        "client CPU",
        "emulator CPU",
        "speed-up vs baseline",
        "bound",
        "wall / bound",
    ]
    rows = []
    for key, entry in runs.items():
        label = {
            "baseline": "baseline: PREVENT-AD script (sequential)",
            "floor": "floor: bare aiohttp crawler (no checks)",
        }.get(key, "neurofetch mirror")
        rows.append(
            [
                label,
                entry["jobs"],
                seconds(entry["run"].wall),
                len(entry["walls"]),
                f"{entry['stats']['requests']:,}",
                f"{entry['stats']['by_kind'].get('file', 0):,}",
                mib(entry["run"].rss_mib),
                seconds(entry["run"].cpu),
                seconds(entry["stats"]["server_cpu"]),
                "1.0×" if key == "baseline" else ratio(entry["speedup"]),
                seconds(entry["bound"]),
                ratio(entry["run"].wall / entry["bound"]),
            ]
        )
    top_entry = runs[f"j{max(jobs_list)}"]
    sizes = info["sizes"]
    note = noise_note
    verdict_speed = verdict(top_entry["speedup"] >= SPEEDUP_TARGET, f"{top_entry['speedup']:.1f}×")
    bound_ratio = top_entry["run"].wall / top_entry["bound"]
    verdict_bound = verdict(bound_ratio <= BOUND_TARGET, f"{bound_ratio:.2f}×")
    floor_ratio = runs["floor"]["run"].wall / runs["floor"]["bound"]
    mirror_text = f"""## 1. LORIS mirror vs the PREVENT-AD script

Measured {today()} by `python bench/loris_mirror.py` ({elapsed:.0f} s in all) on {where}.

Emulator (own process): {info["candidates"]} candidates, {info["visits"]} visits, {info["files"]:,} files,
{info["bytes"] / 1e6:,.0f} MB (median {statistics.median(sizes) / 1e3:.0f} kB, largest {max(sizes) / 1e6:.1f} MB:
the PREVENT-AD size mix of reference/loris.md §7 × {args.size_scale}), {args.latency * 1000:.0f} ms added to every
response. Loopback bandwidth (curl from the same emulator code without latency, best of 3, one connection):
{bandwidth / 1e6:,.0f} MB/s. Baseline transport: {transport}.
Bound = max(requests × {args.latency * 1000:.0f} ms / jobs, bytes / loopback bandwidth
= {info["bytes"] / bandwidth:.2f} s). Peak RSS and client CPU (user + system seconds) are the measured process's
own (VmHWM from /proc; CPU from wait4); emulator CPU is what the emulator process used during that run.
Runs shorter than {REPEAT_UNDER:.0f} s were repeated (runs) and the median run is shown. {settled}

{markdown_table(headers, rows)}

Targets at --jobs {max(jobs_list)}: ≥ {SPEEDUP_TARGET:.0f}× faster than the baseline: {verdict_speed};
within {BOUND_TARGET}× of the bound: {verdict_bound}.

The floor row is bench/baselines/loris_floor.py: the same requests with at most {top} in flight and none of
neurofetch's work (no size or content checks, hashing, journal, retries, resume or name checks). It is what this
machine and emulator allow: {runs["floor"]["speedup"]:.1f}× the baseline, {floor_ratio:.2f}× the bound;
neurofetch --jobs {top} takes {top_entry["run"].wall / runs["floor"]["run"].wall:.2f}× the floor's time.
{note}"""
    first = top_entry
    share = rerun["run"].wall / first["run"].wall
    by_kind = rerun["stats"]["by_kind"]
    rerun_rows = [
        [
            f"first run, --jobs {top}",
            seconds(first["run"].wall),
            f"{first['stats']['requests']:,}",
            f"{first['stats']['by_kind'].get('file', 0):,}",
            f"{first['stats']['by_kind'].get('qc', 0):,}",
            mib(first["run"].rss_mib),
            "100%",
        ],
        [
            f"no-op re-run, --jobs {top}",
            seconds(rerun["run"].wall),
            f"{rerun['stats']['requests']:,}",
            f"{by_kind.get('file', 0):,}",
            f"{by_kind.get('qc', 0):,}",
            mib(rerun["run"].rss_mib),
            f"{share:.1%}",
        ],
    ]
    listings = ", ".join(f"{v} {k}" for k, v in by_kind.items())
    rerun_bound = rerun["stats"]["requests"] * args.latency / top
    rerun_text = f"""## 2. No-op re-run over the complete tree

Same run and emulator as above: `neurofetch mirror` again into the complete --jobs {top} tree, after `sync`
but with the page cache kept (the re-run writes no files, and a cold cache would only time loading Python).
The re-run's requests: {listings} (the listings a mirror must read to learn whether anything changed).
Its bound: {rerun["stats"]["requests"]} × {args.latency * 1000:.0f} ms / {top} = {rerun_bound:.2f} s
(no file bytes to move).
neurofetch reported: {rerun["result"].get("counts")}.

{markdown_table(["run", "wall", "requests", "file GETs", "QC GETs", "peak RSS", "share of first run"], rerun_rows)}

Targets: zero file requests: {verdict(by_kind.get("file", 0) == 0, str(by_kind.get("file", 0)))};
wall time ≤ {RERUN_SHARE_TARGET:.0%} of the first run: {verdict(share <= RERUN_SHARE_TARGET, f"{share:.1%}")}.
{note}"""
    print()
    print(mirror_text)
    print(rerun_text)
    if not args.no_write:
        write_section("loris", mirror_text)
        write_section("loris-rerun", rerun_text)


def mirror_cmd(url: str, dest: Path, jobs: int) -> list[str]:
    return loris_mirror_command(url, dest, "--jobs", str(jobs))


def check(entry: dict, files: int, dest: Path) -> None:
    result = entry["run"].json()
    entry["result"] = result
    downloaded = result.get("counts", {}).get("downloaded", 0)
    on_disk = sum(1 for p in dest.glob("*/*/*") if p.is_file() and not p.name.endswith((".json", ".part")))
    if result.get("status") != "ok" or downloaded != files or on_disk != files:
        raise SystemExit(f"neurofetch did not fetch every file ({on_disk} on disk): {result}")


if __name__ == "__main__":
    main()
