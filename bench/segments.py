"""Benchmark: one large file over capped connections (--segments), and a whole run under --bwlimit.

Row 1: the LORIS emulator (own process) serves one file of --size bytes, answers Range requests correctly, and
sends no connection faster than --conn-rate bytes/s (the `conn_rate` fault knob: a WAN link's per-connection
cap). curl fetches it on one connection; `neurofetch mirror --segments 4` on four. They alternate for --rounds
rounds; medians shown. Throughput = file bytes / whole-command wall time (neurofetch's includes its start-up,
login and listings).

Row 2: no cap on the connections; `neurofetch mirror --bwlimit RATE` of a file of RATE × --seconds bytes
(20 s by default), fetched in 4 segments sharing the one limit. The rate shown is the file's bytes over the
run's own `seconds` (its --json figure: login, listings and the file, without interpreter start-up).

usage: python bench/segments.py [--size 209715200] [--conn-rate 5000000] [--bwlimit 10M] [--seconds 20]
needs: curl (Debian: apt-get install curl)
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
    Noise,
    Server,
    big_file_mirror,
    curl_auth_header,
    isolated_env,
    loris_token,
    machine,
    markdown_table,
    measure,
    need,
    seconds,
    settle,
    today,
    verdict,
)

from neurofetch.net.bandwidth import parse_rate

SPEEDUP_TARGET, BWLIMIT_TOLERANCE = 3.0, 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200 * 1024 * 1024, help="bytes of the capped file")
    parser.add_argument("--conn-rate", type=int, default=5_000_000, help="bytes/s per connection")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bwlimit", default="10M")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the --bwlimit transfer")
    args = parser.parse_args()
    curl = need("curl", "on Debian: apt-get install curl")
    curl_version = measure([curl, "--version"]).out.split()[1]
    started, noise, where = time.perf_counter(), Noise(), machine()
    tmp = Path(tempfile.mkdtemp(prefix="neurofetch-bench-segments-"))
    env = isolated_env(tmp / "home", NEUROFETCH_USERNAME="demo", NEUROFETCH_PASSWORD="demo")
    walls: dict[str, list[float]] = {"curl": [], "neurofetch": []}
    try:
        faults = f"range_support,conn_rate={args.conn_rate}"
        with Server("loris", "--candidates", "1", "--big-file-size", str(args.size), "--faults", faults) as server:
            big = server.info["big_file"]
            header = curl_auth_header(tmp, loris_token(server.url))
            for round_ in range(1, args.rounds + 1):
                out = tmp / "curl.out"
                settle()
                run = measure([curl, "-sS", "-f", "-H", f"@{header}", "-o", str(out), server.url + big["path"]])
                assert out.stat().st_size == args.size, "curl got a short file"
                out.unlink()
                walls["curl"].append(run.wall)
                dest = tmp / "mirror"
                settle()
                run = measure(
                    big_file_mirror(server.url, dest, big, "--no-qc", "--segments", "4"),
                    env=env,
                )
                got = dest / big["candidate"] / big["visit"] / big["filename"]
                assert got.stat().st_size == args.size, "neurofetch got a short file"
                shutil.rmtree(dest)
                walls["neurofetch"].append(run.wall)
                print(
                    f"round {round_}: curl {walls['curl'][-1]:.1f} s, neurofetch --segments 4 "
                    f"{walls['neurofetch'][-1]:.1f} s",
                    flush=True,
                )
        limit = parse_rate(args.bwlimit)
        size = int(limit * args.seconds)
        with Server("loris", "--candidates", "1", "--big-file-size", str(size), "--faults", "range_support") as server:
            big = server.info["big_file"]
            dest = tmp / "limited"
            run = measure(
                big_file_mirror(server.url, dest, big, "--no-qc", "--segments", "4", "--bwlimit", args.bwlimit),
                env=env,
            )
            assert (dest / big["candidate"] / big["visit"] / big["filename"]).stat().st_size == size
            inside = run.json()["seconds"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    curl_wall, nf_wall = statistics.median(walls["curl"]), statistics.median(walls["neurofetch"])
    speedup = curl_wall / nf_wall
    achieved = size / inside
    off = achieved / limit - 1
    rows = [
        [
            f"curl {curl_version} -o (one connection)",
            seconds(curl_wall),
            f"{args.size / curl_wall / 1e6:.1f} MB/s",
            "1.00×",
        ],
        [
            "neurofetch mirror --segments 4",
            seconds(nf_wall),
            f"{args.size / nf_wall / 1e6:.1f} MB/s",
            f"{speedup:.2f}×",
        ],
    ]
    text = f"""## Segments and --bwlimit

Measured {today()} by `python bench/segments.py` ({time.perf_counter() - started:.0f} s in all) on {where}.

One file of {args.size:,} bytes from the LORIS emulator, each connection capped at {args.conn_rate / 1e6:g} MB/s
(`conn_rate`), Range answered correctly; medians of {args.rounds} alternating rounds, whole-command wall time.

{markdown_table(["client", "wall (median)", "throughput", "vs curl"], rows)}

Target ≥ {SPEEDUP_TARGET:g}× curl: {verdict(speedup >= SPEEDUP_TARGET, f"{speedup:.2f}×")}.

`--bwlimit {args.bwlimit}` over a {size:,}-byte file in 4 segments, no connection cap: {achieved / 1e6:.2f} MB/s over
the run's {inside:.1f} s (its JSON `seconds`), {off:+.1%} from the limit; target within ±{BWLIMIT_TOLERANCE:.0%}:
{verdict(abs(off) <= BWLIMIT_TOLERANCE, f"{off:+.1%}")}.
{noise.note()}"""
    print()
    print(text)


if __name__ == "__main__":
    main()
