"""Benchmark 3: one 2 GiB file from the LORIS emulator: neurofetch's peak RSS and throughput next to `curl -o`
of the same URL in the same run, and the PREVENT-AD script's peak RSS for contrast.

curl does not check what it wrote; neurofetch computes the file's SHA-256 as the bytes arrive. So a second
baseline, `curl | tee FILE | openssl dgst -sha256` (the same OpenSSL SHA-256 Python's hashlib uses), is the peer
of a verified download. The emulator's own CPU per run is shown too: it generates the file as it sends it, on
the same two cores as the client.

The emulator (own process, no added latency) serves one candidate plus a file of exactly --size bytes, whose
content is generated as it is sent. curl and neurofetch alternate for --rounds rounds, each writing to a fresh
file on the same disk; the table shows medians. neurofetch is `neurofetch mirror DEST --candidate C --include
NAME`, so it also logs in and reads the candidate, visit and image listings and the file's QC record (a few
small requests); curl gets a ready token and only the file. Throughput = file bytes / whole-command wall time.

usage: python bench/large_file.py [--size 2147483648] [--rounds 3] [--no-baseline] [--no-write]
needs: curl and openssl (Debian: apt-get install curl openssl)
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
    big_file_mirror,
    curl_auth_header,
    isolated_env,
    loris_token,
    machine,
    markdown_table,
    measure,
    mib,
    need,
    seconds,
    settle,
    today,
    verdict,
    write_section,
)

GiB = 1024**3
BASELINE = ROOT / "bench" / "baselines" / "loris_sequential.py"
RSS_TARGET_MB, SHARE_TARGET = 150, 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2 * GiB, help="bytes of the big file (default 2 GiB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the PREVENT-AD script (it holds the whole file in memory: about 2 × --size of RAM)",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    curl = need("curl", "on Debian: apt-get install curl")
    curl_version = measure([curl, "--version"]).out.split()[1]
    openssl = need("openssl", "on Debian: apt-get install openssl")

    started, noise, where = time.perf_counter(), Noise(), machine()
    tmp = Path(tempfile.mkdtemp(prefix="neurofetch-bench-big-"))
    results: dict[str, list] = {"curl": [], "verified": [], "neurofetch": []}
    server_cpu: dict[str, list[float]] = {"curl": [], "verified": [], "neurofetch": []}
    settled = ""
    try:
        env = isolated_env(tmp / "home", NEUROFETCH_USERNAME="demo", NEUROFETCH_PASSWORD="demo")
        with Server("loris", "--candidates", "1", "--big-file-size", str(args.size)) as server:
            big = server.info["big_file"]
            header = curl_auth_header(tmp, loris_token(server.url))
            url = server.url + big["path"]
            for round_ in range(1, args.rounds + 1):
                out = tmp / "curl.out"
                server.clear()
                settled = settle()
                run = measure([curl, "-sS", "-f", "-H", f"@{header}", "-o", str(out), url])
                assert out.stat().st_size == args.size, "curl got a short file"
                out.unlink()
                results["curl"].append(run)
                server_cpu["curl"].append(server.stats()["server_cpu"])
                report(f"round {round_}: curl", run, args.size)

                server.clear()
                settle()
                pipeline = f"set -o pipefail; {curl} -sS -f -H @{header} {url} | tee {out} | {openssl} dgst -sha256"
                run = measure(["bash", "-c", pipeline])
                assert out.stat().st_size == args.size, "curl | tee got a short file"
                out.unlink()
                results["verified"].append(run)
                server_cpu["verified"].append(server.stats()["server_cpu"])
                report(f"round {round_}: curl | sha256", run, args.size)

                dest = tmp / "mirror"
                server.clear()
                settle()
                run = measure(
                    big_file_mirror(server.url, dest, big),
                    env=env,
                )
                got = dest / big["candidate"] / big["visit"] / big["filename"]
                assert got.stat().st_size == args.size, "neurofetch got a short file"
                results["neurofetch"].append(run)
                stats = server.stats()
                requests = stats["requests"]
                server_cpu["neurofetch"].append(stats["server_cpu"])
                report(f"round {round_}: neurofetch ({requests} requests)", run, args.size)
                shutil.rmtree(dest)
            if not args.no_baseline:
                dest = tmp / "baseline"
                server.clear()
                settle()
                run = measure(
                    [
                        PYTHON,
                        str(BASELINE),
                        server.url,
                        str(dest),
                        "--candidate",
                        big["candidate"],
                        "--include",
                        big["filename"],
                    ],
                    env=env,
                )
                assert (dest / big["candidate"] / big["visit"] / big["filename"]).stat().st_size == args.size
                results["baseline"] = [run]
                report("baseline (PREVENT-AD script)", run, args.size)
                shutil.rmtree(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    noise_note = noise.note()
    elapsed = time.perf_counter() - started

    def med(tool: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results[tool])

    curl_rate = args.size / med("curl", "wall")
    verified_rate = args.size / med("verified", "wall")
    headers = [
        "client",
        "wall (median)",
        "throughput",
        "vs curl",
        "peak RSS (median)",
        "peak RSS (max)",
        "CPU",
        "emulator CPU",
    ]
    rows = []
    labels = {
        "curl": f"curl {curl_version} -o",
        "verified": "curl -o - into tee FILE and openssl dgst -sha256",
        "neurofetch": "neurofetch mirror",
        "baseline": "baseline: PREVENT-AD script (requests, whole body in memory)",
    }
    for tool in results:
        rate = args.size / med(tool, "wall")
        rows.append(
            [
                labels[tool],
                seconds(med(tool, "wall")),
                f"{rate / 1e6:,.0f} MB/s",
                f"{rate / curl_rate:.0%}",
                mib(med(tool, "rss_mib")) if tool != "verified" else "",
                mib(max(r.rss_mib for r in results[tool])) if tool != "verified" else "",
                seconds(med(tool, "cpu")),
                seconds(statistics.median(server_cpu[tool])) if tool in server_cpu else "",
            ]
        )
    inside = statistics.median(r.json()["seconds"] for r in results["neurofetch"])
    nf_rss_mb = max(r.rss_mib for r in results["neurofetch"]) * 1.048576  # MiB → MB
    nf_share = (args.size / med("neurofetch", "wall")) / curl_rate
    nf_verified_share = (args.size / med("neurofetch", "wall")) / verified_rate
    text = f"""## 3. Large file: one {args.size / GiB:g} GiB file

Measured {today()} by `python bench/large_file.py` ({elapsed:.0f} s in all) on {where}.

The LORIS emulator (own process, no added latency) serves one file of {args.size:,} bytes, generated as it is sent.
curl, curl piped through `openssl dgst -sha256` (the peer of a verified download) and neurofetch alternate for
{args.rounds} rounds, each writing a new file to the same disk; medians shown.
{settled}
Throughput = file bytes / wall time of the whole command (neurofetch's includes its start-up, login, listings and
the QC record; curl's only the file). Peak RSS is each client process's own (its VmHWM, read from /proc while it runs;
not shown for the pipeline). CPU is the client's (the whole pipeline's), emulator CPU the serving process's.

{markdown_table(headers, rows)}

neurofetch's own figure for the run (its JSON `seconds`: login, listings and the file, without interpreter
start-up and imports) was {inside:.2f} s, i.e. {args.size / inside / 1e6:,.0f} MB/s.

Targets: neurofetch peak RSS ≤ {RSS_TARGET_MB} MB: {verdict(nf_rss_mb <= RSS_TARGET_MB, f"{nf_rss_mb:.0f} MB")};
throughput ≥ {SHARE_TARGET:.0%} of curl's: {verdict(nf_share >= SHARE_TARGET, f"{nf_share:.0%}")}
({nf_verified_share:.0%} of the verified pipeline's).
{noise_note}"""
    print()
    print(text)
    if not args.no_write:
        write_section("large-file", text)


def report(label: str, run, size: int) -> None:
    print(
        f"{label}: {run.wall:.2f} s, {size / run.wall / 1e6:.0f} MB/s, peak RSS {run.rss_mib:.0f} MiB, "
        f"CPU {run.cpu:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
