"""Benchmark: `neurofetch.data.MirrorDataset` over the 1,000-file LORIS tree of bench/loris_mirror.py.

The LORIS emulator (bench/_serve.py, no added latency) serves the PREVENT-AD-like dataset of 30 candidates
(size mix × 0.05); `neurofetch mirror --jobs 16` fetches it into a temporary folder. Then, each in a fresh child
process (so one run's imports and caches do not help the next):

- items/s: build the dataset and read every item once through `torch.utils.data.DataLoader` with 0 and 2
  workers (batch size 8, `neurofetch.data.collate`); without torch, the 0-worker row is a plain loop and the
  2-worker row is left out;
- memory: the process's RSS before and after building the dataset (after a first build that keeps no item, so
  imports and the index's transient rows are already paid), as MiB per 10,000 items, the bytes the dataset holds
  per item (tracemalloc, a second build), and the pickled size per item (what every worker process receives).

usage: python bench/dataset.py [--candidates 30] [--size-scale 0.05] [--keep DIR]

Prints a Markdown table; docs/benchmarks.md is left alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PYTHON, Server, isolated_env, loris_tree_parser, machine, markdown_table, measure, settle, today
from loris_mirror import mirror_cmd

PER = 10_000


def main() -> None:
    parser = loris_tree_parser(__doc__, latency=False, no_write=False)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]))
        return

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="neurofetch-bench-dataset-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        env = isolated_env(tmp / "home", NEUROFETCH_USERNAME="demo", NEUROFETCH_PASSWORD="demo")
        dest = tmp / "study"
        with Server(
            "loris", "--candidates", str(args.candidates), "--size-scale", str(args.size_scale), "--latency", "0"
        ) as server:
            info = server.info
            if not (dest / ".neurofetch").exists():
                print(f"mirroring {info['files']:,} files …", flush=True)
                measure(mirror_cmd(server.url, dest, 16), env=env)
        rows = []
        for workers in (0, 2):
            settle(drop_caches=True)
            run = measure([PYTHON, __file__, "--child", str(dest), str(workers)], env=env)
            result = json.loads(run.out.strip().splitlines()[-1])
            if result.get("skipped"):
                print(f"{workers} workers: {result['skipped']}", flush=True)
                continue
            print(f"{workers} workers: {result}", flush=True)
            rows.append(
                [
                    workers,
                    f"{result['items']:,}",
                    f"{result['first_build_s']:.2f} s",
                    f"{result['build_s']:.2f} s",
                    f"{result['read_s']:.2f} s",
                    f"{result['items'] / result['read_s']:,.0f}",
                    f"{result['rss_delta_mib'] / result['items'] * PER:.1f} MiB",
                    f"{result['held_bytes'] / result['items']:.0f} B",
                    f"{result['pickle_bytes'] / result['items']:.0f} B",
                    f"{run.rss_mib:.0f} MiB",
                    result["loop"],
                ]
            )
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    headers = [
        "workers",
        "items",
        "first build (cold)",
        "build again",
        "read all",
        "items/s",
        f"RSS per {PER:,} items",
        "held per item",
        "pickle per item",
        "peak RSS (main process)",
        "loop",
    ]
    print(
        f"\nMeasured {today()} by `python bench/dataset.py` on {machine()}.\n"
        f"Tree: `neurofetch mirror` of the LORIS emulator, {info['files']:,} files "
        f"({info['bytes'] / 1e6:,.0f} MB); items are its .mnc files (MINC2 volumes), cold page cache.\n"
    )
    print(markdown_table(headers, rows))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(root: Path, workers: int) -> None:
    """One measurement, in its own process: build, read every item, report as one JSON line."""
    import gc
    import pickle
    import tracemalloc

    import numpy as np  # noqa: F401  (loaded before the baseline, as a training script has it)

    from neurofetch import api  # noqa: F401
    from neurofetch.data import MirrorDataset, collate

    try:
        import torch.utils.data
    except ImportError:
        if workers:
            print(json.dumps({"skipped": "torch is not installed"}))
            return
        torch = None
    started = time.perf_counter()
    MirrorDataset(root, where=lambda _metadata: False)  # imports the index's readers; heap grown to its peak
    first_build = time.perf_counter() - started
    gc.collect()
    before = _rss_mib()
    started = time.perf_counter()
    dataset = MirrorDataset(root)
    built = time.perf_counter() - started
    gc.collect()
    rss_delta = _rss_mib() - before
    tracemalloc.start()
    again = MirrorDataset(root)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del again
    items = 0
    started = time.perf_counter()
    if torch is None:
        loop = "plain loop"
        for index in range(len(dataset)):
            dataset[index]
            items += 1
    else:
        loop = f"DataLoader, batch 8, {workers} workers"
        loader = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=workers, collate_fn=collate)
        for volumes, _metadata in loader:
            items += len(volumes)
    read = time.perf_counter() - started
    assert items == len(dataset), (items, len(dataset))
    print(
        json.dumps(
            {
                "items": items,
                "first_build_s": first_build,
                "build_s": built,
                "read_s": read,
                "rss_delta_mib": rss_delta,
                "held_bytes": held,
                "pickle_bytes": len(pickle.dumps(dataset)),
                "loop": loop,
            }
        )
    )


if __name__ == "__main__":
    main()
