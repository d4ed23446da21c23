"""Benchmark 5: `neurofetch upload` of 500 small DICOMs to the Datamint emulator (20 ms added to every response)
against the official client's scheme (bench/baselines/datamint_batches.py: batches of 20 with asyncio.gather),
and the cost of running each again over the same folder.

The DICOMs are pydicom's CT_small.dcm test file made into 500 distinct instances (new SOP Instance UIDs and
instance numbers, zeroed preamble) in 5 folders. Two modes, each tool doing the same work:
raw (`neurofetch upload --retain-pii`; the baseline without anonymization) and anonymized (neurofetch's default
de-identification; the baseline clearing the official client's 47 tags). Every first run uses a fresh journal
(its own state folder); the re-run reuses it. Medians of --rounds alternating rounds.

usage: python bench/upload.py [--files 500] [--rounds 3] [--jobs 4,20] [--latency 0.02] [--no-write]
needs: pydicom (neurofetch's DICOM de-identification brings it)
"""

from __future__ import annotations

import argparse
import contextlib
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
    write_section,
)

BASELINE = ROOT / "bench" / "baselines" / "datamint_batches.py"


def make_dicoms(root: Path, count: int) -> int:
    """``count`` distinct small DICOMs under ``root``; returns their total size."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    series = generate_uid(entropy_srcs=["neurofetch-bench", "series"])
    total = 0
    for index in range(count):
        ds = template.copy()
        ds.preamble = b"\0" * 128
        uid = generate_uid(entropy_srcs=["neurofetch-bench", str(index)])
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SeriesInstanceUID = series
        ds.InstanceNumber = index + 1
        path = root / f"sub-{index // 100 + 1:02d}" / f"ct_{index + 1:04d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", default="4,20", help="comma-separated --jobs values for neurofetch (4 = default)")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    jobs_list = [int(j) for j in args.jobs.split(",")]
    top = max(jobs_list)
    help_text = measure([*neurofetch_command(), "upload", "--help"], check=False)
    if help_text.code != 0:
        raise SystemExit("`neurofetch upload` does not exist in this checkout yet: nothing to measure")

    started, noise, where = time.perf_counter(), Noise(), machine()
    tmp = Path(tempfile.mkdtemp(prefix="neurofetch-bench-upload-"))
    data = tmp / "dicoms"
    total = make_dicoms(data, args.files)
    print(f"{args.files} DICOMs, {total / 1e6:.1f} MB in {data}", flush=True)
    # key → (label, jobs, command builder, re-run of key or None)
    cases: dict[str, tuple[str, int | str, list[str], str | None]] = {}
    cases["base-raw"] = ("baseline: batches of 20", "20 / batch", ["raw"], None)
    for jobs in jobs_list:
        cases[f"nf-raw-j{jobs}"] = ("neurofetch upload --retain-pii", jobs, ["raw", str(jobs)], None)
    cases["base-anon"] = ("baseline: batches of 20, anonymizing", "20 / batch", ["anon"], None)
    cases[f"nf-anon-j{top}"] = ("neurofetch upload (de-identifying)", top, ["anon", str(top)], None)
    cases["base-raw-again"] = ("baseline re-run", "20 / batch", ["raw"], "base-raw")
    cases[f"nf-raw-j{top}-again"] = ("neurofetch re-run", top, ["raw", str(top)], f"nf-raw-j{top}")
    runs: dict[str, list] = {key: [] for key in cases}
    stats: dict[str, dict] = {}
    try:
        for round_ in range(1, args.rounds + 1):
            # An empty server for every first run, which must not find the files an earlier run sent (neurofetch
            # asks the service about every file its journal does not know); a re-run gets its first run's.
            with contextlib.ExitStack() as servers:
                started_for: dict[str, Server] = {}
                for key, (_label, _jobs, spec, again) in cases.items():
                    if again is None:
                        started_for[key] = servers.enter_context(Server("datamint", "--latency", str(args.latency)))
                    server = started_for[again or key]
                    home = tmp / f"home-{round_}-{again or key}"  # a re-run shares its first run's journal
                    env = isolated_env(home, NEUROFETCH_API_KEY="demo-key")
                    if spec[0] == "raw" and key.startswith("base"):
                        cmd = [PYTHON, str(BASELINE), server.url, str(data)]
                    elif key.startswith("base"):
                        cmd = [PYTHON, str(BASELINE), server.url, str(data), "--anonymize"]
                    else:
                        cmd = [
                            *neurofetch_command(),
                            "--url",
                            server.url,
                            "--service",
                            "datamint",
                            "--json",
                            "upload",
                            str(data),
                            "-r",
                            "--jobs",
                            spec[1],
                        ]
                        if spec[0] == "raw":
                            cmd.append("--retain-pii")
                    server.clear()
                    run = measure(cmd, env=env)
                    stats[key] = server.stats()
                    bad = set(stats[key]["by_status"]) - {"200", "201"}
                    if bad:
                        raise SystemExit(f"{key}: the emulator answered {stats[key]['by_status']}")
                    runs[key].append(run)
                    print(
                        f"round {round_}: {key}: {run.wall:.2f} s, {stats[key]['requests']} requests "
                        f"({stats[key]['by_kind']}), peak RSS {run.rss_mib:.0f} MiB",
                        flush=True,
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    noise_note = noise.note()
    elapsed = time.perf_counter() - started

    def med(key: str, attr: str = "wall") -> float:
        return statistics.median(getattr(r, attr) for r in runs[key])

    rows = []
    for key, (label, jobs, spec, again) in cases.items():
        baseline = "base-raw" if spec[0] == "raw" else "base-anon"
        first = "–" if again or key == baseline else ratio(med(baseline) / med(key))
        rerun = ratio(med(again) / med(key)) if again else "–"
        rows.append(
            [
                label,
                jobs,
                "raw" if spec[0] == "raw" else "de-identified",
                seconds(med(key)),
                stats[key]["requests"],
                stats[key]["by_kind"].get("upload", 0),
                mib(med(key, "rss_mib")),
                seconds(med(key, "cpu")),
                seconds(stats[key]["server_cpu"]),
                first,
                rerun,
            ]
        )
    headers = [
        "client",
        "concurrency",
        "DICOMs sent",
        "wall (median)",
        "requests",
        "uploads",
        "peak RSS",
        "client CPU",
        "emulator CPU",
        "speed-up vs baseline",
        "re-run speed-up vs first run",
    ]
    speedups = ", ".join(f"{ratio(med('base-raw') / med(f'nf-raw-j{j}'))} at --jobs {j}" for j in jobs_list)
    text = f"""## 5. Upload: {args.files} small DICOMs to the Datamint emulator

Measured {today()} by `python bench/upload.py` ({elapsed:.0f} s in all) on {where}.

{args.files} DICOMs ({total / 1e6:.1f} MB; pydicom's CT_small.dcm made into distinct instances) in 5 folders;
the Datamint emulator (own process) with {args.latency * 1000:.0f} ms added to every response. Command:
`NEUROFETCH_API_KEY=… neurofetch --url URL --service datamint upload DIR -r --jobs J [--retain-pii]`.
Speed-up: first runs against the baseline in the same mode; a re-run against the same tool's first run.
Medians of {args.rounds} alternating rounds; each first run starts with an empty journal.

{markdown_table(headers, rows)}

Speed-up over the baseline with raw DICOMs: {speedups}; de-identifying:
{ratio(med("base-anon") / med(f"nf-anon-j{top}"))} at --jobs {top}.
Re-run: neurofetch sends {stats[f"nf-raw-j{top}-again"]["by_kind"].get("upload", 0)} files
({plural(stats[f"nf-raw-j{top}-again"]["requests"], "request")}) in {seconds(med(f"nf-raw-j{top}-again"))};
the baseline sends all {stats["base-raw-again"]["by_kind"].get("upload", 0)} again (duplicates on the server) in
{seconds(med("base-raw-again"))}, {ratio(med("base-raw-again") / med(f"nf-raw-j{top}-again"))} neurofetch's re-run time.
{noise_note}"""
    print()
    print(text)
    if not args.no_write:
        write_section("upload", text)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


if __name__ == "__main__":
    main()
