"""Start-up time of `--help`: neurofetch's commands next to `aws --help` (aws-cli, also Python).

    python bench/startup.py [--runs 20]

Prints the median and minimum wall time of each command over RUNS fresh processes (after one warm-up
run each), and each median's ratio to `aws --help`'s. `aws` is skipped when it is not installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def tool(name: str) -> list[str] | None:
    """The real executable (a pyenv shim would add a bash start-up to the figure)."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found and "/shims/" in found and shutil.which("pyenv"):
        real = subprocess.run(["pyenv", "which", name], capture_output=True, text=True).stdout.strip()
        found = real or found
    return [found] if found else None


def commands() -> dict[str, list[str] | None]:
    neurofetch = tool("neurofetch") or [sys.executable, "-m", "neurofetch"]
    config = tool("neurofetch-config") or [sys.executable, "-m", "neurofetch.cli.config_app"]
    aws = tool("aws")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "neurofetch --help": [*neurofetch, "--help"],
        "neurofetch mirror --help": [*neurofetch, "mirror", "--help"],
        "neurofetch-config --help": [*config, "--help"],
        "neurofetch --version": [*neurofetch, "--version"],
        "aws --help": [*aws, "--help"] if aws else None,
    }


def timings(argv: list[str], runs: int) -> list[float]:
    env = {**os.environ, "COLUMNS": "100", "PAGER": "cat", "AWS_PAGER": ""}
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # warm the caches
    found = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        found.append(time.perf_counter() - started)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    results = {name: timings(argv, runs) for name, argv in commands().items() if argv}
    baseline = statistics.median(results["aws --help"]) if "aws --help" in results else None
    print(
        f"{'command':<28} {'median ms':>10} {'min ms':>8} {'vs aws --help':>14}   ({runs} runs each, "
        f"{os.cpu_count()} CPUs)"
    )
    for name, found in results.items():
        median = statistics.median(found)
        ratio = f"{median / baseline:.2f}x" if baseline else "n/a"
        print(f"{name:<28} {median * 1000:>10.0f} {min(found) * 1000:>8.0f} {ratio:>14}")
    if baseline is None:
        print("aws is not installed: no baseline (pip install awscli)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
