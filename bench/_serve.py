"""Run one neurofetch emulator in its own process for the benchmarks, with a request counter on stdin/stdout.

The benchmarks start this as a subprocess so that the server and the client under test never share a GIL.

    python bench/_serve.py loris --candidates 30 --size-scale 0.05 --latency 0.02
    python bench/_serve.py loris --candidates 1 --big-file-size 2147483648
    python bench/_serve.py allen --latency 0.02
    python bench/_serve.py datamint --latency 0.02

stdout, line 1: the base URL (as `neurofetch emulate SERVICE` prints it); line 2: one JSON object of facts
about the served dataset. Then it answers one JSON line per command read from stdin:

    stats   {"requests": N, "by_kind": {...}, "by_status": {...}, "server_cpu": S}  (since the last clear;
            server_cpu: CPU seconds the emulator process used)
    clear   {"cleared": N}
    quit    (or end of stdin, or SIGTERM): stops the server and exits

Nothing here changes the emulators: it only builds them with the knobs the benchmarks need (e.g. the
LORIS dataset's size_scale, which `neurofetch emulate loris` does not expose) and reads their request log.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurofetch.emulators.common import Emulator, Faults

LORIS_KINDS = (
    ("login", re.compile(r"/login/?$")),
    ("qc", re.compile(r"/candidates/[^/]+/[^/]+/images/[^/]+/qc$")),
    ("file", re.compile(r"/candidates/[^/]+/[^/]+/images/[^/]+$")),
    ("image list", re.compile(r"/candidates/[^/]+/[^/]+/images/?$")),
    ("visit", re.compile(r"/candidates/[^/]+/[^/]+/?$")),
    ("candidate", re.compile(r"/candidates/[^/]+/?$")),
    ("candidates", re.compile(r"/candidates/?$")),
    ("projects", re.compile(r"/projects")),
)
ALLEN_KINDS = (
    ("rma", re.compile(r"^/api/v2/data/")),
    ("download", re.compile(r"^/api/v2/[a-z_]*download/")),
    ("imageservice", re.compile(r"^/cgi-bin/imageservice")),
    ("svg", re.compile(r"^/api/v2/svg")),
)


def classify(service: str, method: str, path: str) -> str:
    if service == "datamint":
        if method == "POST" and path.rstrip("/") == "/resources":
            return "upload"
        return f"{method} {re.sub(r'/[0-9a-f-]{36}', '/{id}', path)}"
    table = LORIS_KINDS if service == "loris" else ALLEN_KINDS
    return next((kind for kind, pattern in table if pattern.search(path)), "other")


def build(args: argparse.Namespace) -> tuple[Emulator, dict[str, object]]:
    faults = Faults.parse(args.faults)
    faults.latency, faults.seed = args.latency or faults.latency, args.seed or faults.seed
    if args.service == "loris":
        from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

        dataset = LorisDataset(
            candidates=args.candidates, seed=args.seed, size_scale=args.size_scale, big_file_size=args.big_file_size
        )
        emulator: Emulator = LorisEmulator(dataset, faults=faults, users={"demo": "demo"}, api_version=args.api_version)
        sizes = [f.size for f in dataset.files]
        info: dict[str, object] = {
            "candidates": len(dataset.candidates),
            "visits": sum(len(c.visits) for c in dataset.candidates),
            "files": len(sizes),
            "bytes": sum(sizes),
            "first_candidate": dataset.candidates[0].cand_id,
            "sizes": sorted(sizes),
        }
        if dataset.big_file is not None:
            big = dataset.big_file
            info["big_file"] = {
                "candidate": big.cand,
                "visit": big.visit,
                "filename": big.filename,
                "size": big.size,
                "path": f"/candidates/{big.cand}/{big.visit}/images/{big.filename}",
            }
        return emulator, info
    if args.service == "allen":
        from neurofetch.emulators.allen.app import AllenEmulator

        emulator = AllenEmulator(faults=faults, seed=args.seed)
        return emulator, {"atlas_1_plates": len(emulator.atlas_images(1))}
    if args.service == "datamint":
        from neurofetch.emulators.datamint.app import DatamintEmulator

        return DatamintEmulator(faults=faults, seed=args.seed, preload=0), {"api_key": "demo-key"}
    raise SystemExit(f"unknown service {args.service}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=("loris", "allen", "datamint"))
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument(
        "--faults",
        default="",
        help="fault knobs as for `neurofetch emulate --faults`, e.g. range_support,conn_rate=5000000",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=6, help="LORIS: candidates in the dataset")
    parser.add_argument("--size-scale", type=float, default=0.02, help="LORIS: file sizes × this (1 = real sizes)")
    parser.add_argument("--big-file-size", type=int, default=0, help="LORIS: add one file of this many bytes")
    parser.add_argument("--api-version", default="v0.0.3-dev", help="LORIS: the API version served")
    args = parser.parse_args()

    emulator, info = build(args)
    server = emulator.serve()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(emulator.base_url(server), flush=True)
    print(json.dumps(info), flush=True)

    cpu_mark = [time.process_time()]

    def answer() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                entries = emulator.log.entries()
                kinds = Counter(classify(args.service, e.method, e.path) for e in entries)
                statuses = Counter(str(e.status) for e in entries)
                print(
                    json.dumps(
                        {
                            "requests": len(entries),
                            "by_kind": dict(kinds),
                            "by_status": dict(statuses),
                            "server_cpu": round(time.process_time() - cpu_mark[0], 3),
                        }
                    ),
                    flush=True,
                )
            elif command == "clear":
                count = len(emulator.log.entries())
                emulator.log.clear()
                cpu_mark[0] = time.process_time()
                print(json.dumps({"cleared": count}), flush=True)
            elif command == "quit":
                break
        stop.set()

    threading.Thread(target=answer, daemon=True).start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
