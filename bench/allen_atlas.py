"""Benchmark 4: `neurofetch atlas-image --atlas-images 1 --downsample 4` against a sequential loop over the same
URLs (the allensdk approach, bench/baselines/allen_sequential.py), with 20 ms added to every response.

The Allen emulator runs in its own process. It renders each JPEG on first request and caches it, so one untimed
warm-up download comes first; after that every client gets the same cached bytes. Then, for --rounds rounds,
the baseline and neurofetch at each --jobs alternate, each into a fresh folder; the table shows medians.

usage: python bench/allen_atlas.py [--rounds 3] [--jobs 4,16] [--latency 0.02] [--no-write]
"""

from __future__ import annotations

import argparse
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
    machine,
    markdown_table,
    measure,
    mib,
    neurofetch_command,
    ratio,
    seconds,
    today,
    tree_size,
    write_section,
)

BASELINE = ROOT / "bench" / "baselines" / "allen_sequential.py"
ATLAS, DOWNSAMPLE = 1, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", default="4,16", help="comma-separated --jobs values for neurofetch (4 = default)")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    jobs_list = [int(j) for j in args.jobs.split(",")]

    started, noise, where = time.perf_counter(), Noise(), machine()
    tmp = Path(tempfile.mkdtemp(prefix="neurofetch-bench-allen-"))
    runs: dict[str, list] = {"baseline": [], **{f"j{j}": [] for j in jobs_list}}
    requests: dict[str, int] = {}
    sizes: dict[str, tuple[int, int]] = {}
    try:
        env = isolated_env(tmp / "home")
        with Server("allen", "--latency", str(args.latency)) as server:
            plates = server.info["atlas_1_plates"]
            print("warm-up (fills the emulator's JPEG cache) …", flush=True)
            measure(atlas_cmd(server.url, tmp / "warm-up", max(jobs_list)), env=env)
            shutil.rmtree(tmp / "warm-up")
            for round_ in range(1, args.rounds + 1):
                for key in runs:
                    dest = tmp / key
                    cmd = (
                        [
                            PYTHON,
                            str(BASELINE),
                            server.url,
                            str(dest),
                            "--atlas",
                            str(ATLAS),
                            "--downsample",
                            str(DOWNSAMPLE),
                        ]
                        if key == "baseline"
                        else atlas_cmd(server.url, dest, int(key[1:]))
                    )
                    server.clear()
                    run = measure(cmd, env=env)
                    stats = server.stats()
                    if set(stats["by_status"]) - {"200", "302"}:
                        raise SystemExit(f"{key}: the emulator answered errors: {stats['by_status']}")
                    jpegs = stats["by_kind"].get("imageservice", 0)
                    if jpegs != plates:
                        raise SystemExit(f"{key}: {jpegs} images fetched, expected {plates}")
                    requests[key] = stats["requests"]
                    sizes[key] = tree_size(dest)
                    runs[key].append(run)
                    print(
                        f"round {round_}: {key}: {run.wall:.2f} s, {stats['requests']} requests, "
                        f"peak RSS {run.rss_mib:.0f} MiB",
                        flush=True,
                    )
                    shutil.rmtree(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    noise_note = noise.note()
    elapsed = time.perf_counter() - started

    def med(key: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs[key])

    base_wall = med("baseline", "wall")
    rows = []
    for key in runs:
        label = "baseline: allensdk-style sequential loop" if key == "baseline" else "neurofetch atlas-image"
        jobs = 1 if key == "baseline" else int(key[1:])
        bound = requests[key] * args.latency / jobs
        rows.append(
            [
                label,
                jobs,
                seconds(med(key, "wall")),
                requests[key],
                mib(med(key, "rss_mib")),
                seconds(med(key, "cpu")),
                ratio(base_wall / med(key, "wall")),
                seconds(bound),
                ratio(med(key, "wall") / bound),
            ]
        )
    headers = [
        "client",
        "jobs",
        "wall (median)",
        "requests",
        "peak RSS",
        "CPU",
        "speed-up vs baseline",
        "latency bound",
        "wall / bound",
    ]
    speedups = ", ".join(f"{ratio(base_wall / med(f'j{j}', 'wall'))} at --jobs {j}" for j in jobs_list)
    text = f"""## 4. Allen atlas: every annotated plate of atlas {ATLAS}

Measured {today()} by `python bench/allen_atlas.py` ({elapsed:.0f} s in all) on {where}.

The Allen emulator (own process) with {args.latency * 1000:.0f} ms added to every response; {plates} plates at
--downsample {DOWNSAMPLE} ({sizes["baseline"][1] / 1e6:.1f} MB of JPEG), each a 302 to the imageservice and then the
JPEG. JPEGs were rendered once in an untimed warm-up and served from the emulator's cache after that.
Command: `neurofetch --url URL --service allen atlas-image --atlas-images {ATLAS} --downsample {DOWNSAMPLE} --out DIR
--jobs J`. Medians of {args.rounds} alternating rounds. Latency bound = requests × {args.latency * 1000:.0f} ms / jobs.

{markdown_table(headers, rows)}

Speed-up over the sequential loop: {speedups} (the issue sets no target number for this one).
{noise_note}"""
    print()
    print(text)
    if not args.no_write:
        write_section("allen", text)


def atlas_cmd(url: str, dest: Path, jobs: int) -> list[str]:
    return [
        *neurofetch_command(),
        "--url",
        url,
        "--service",
        "allen",
        "--json",
        "atlas-image",
        "--atlas-images",
        str(ATLAS),
        "--downsample",
        str(DOWNSAMPLE),
        "--out",
        str(dest),
        "--jobs",
        str(jobs),
    ]


if __name__ == "__main__":
    main()
