"""Write docs/reference.md from the live command-line definitions (every command, option, environment
variable and exit code), so the reference cannot drift from `--help`.

    python docs/gen_reference.py           # rewrite docs/reference.md
    python docs/gen_reference.py --check   # exit 1 if docs/reference.md is stale (tests/test_reference_doc.py)

Options, arguments and commands come from the Typer apps themselves; the exit codes from
neurofetch.errors.ExitCode; environment variables from the options that read one, plus the ones the
code reads directly (OTHER_ENV below: a test fails when the code reads one that is not listed).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("reference.md")
PROGRAMS = (("neurofetch", "neurofetch.cli.app"), ("neurofetch-config", "neurofetch.cli.config_app"))

EXIT_MEANINGS = {
    "OK": "everything asked for is done (or already was)",
    "PARTIAL": "some items failed; the rest are done and recorded (a re-run retries the failed ones)",
    "USAGE": "bad flags, arguments or configuration",
    "AUTH": "missing, wrong or expired credentials that re-login could not fix",
    "LOCKED": "another run holds the destination (exits at once; cron overlaps are harmless)",
    "UNREACHABLE": "the service could not be reached (name not resolved, refused, TLS, timeout), kept failing, or "
    "the URL is not its API (a 404 or a web page where the API should answer); nothing more was "
    "transferred",
    "INTEGRITY": "a verification found a local file that does not match what was recorded",
    "DESTINATION": "the destination cannot be written (disk full, read-only, no permission), the upload journal "
    "included; what was complete stays complete",
    "INTERRUPTED": "Ctrl-C or SIGTERM; the state is consistent and the same command resumes",
}

OTHER_ENV = {
    "NEUROFETCH_USERNAME": "the account name (LORIS); overrides the profile's `username`",
    "NEUROFETCH_PASSWORD": "the LORIS password; with it `mirror` logs in by itself (no `login` step)",
    "NEUROFETCH_TOKEN": "a LORIS token to use as it is (no login)",
    "NEUROFETCH_API_KEY": "the Datamint API key (`DATAMINT_API_KEY`, the official client's name, works too)",
    "NEUROFETCH_NO_KEYRING": "`1`: never touch the OS keyring",
    "NEUROFETCH_JOBS": "default parallel transfers when a profile sets none",
    "NEUROFETCH_RETRIES": "default retries of a failed request (5)",
    "NEUROFETCH_RETRY_WAIT_MAX": "default longest wait between retries, in seconds (60)",
    "NEUROFETCH_PROGRESS_INTERVAL": "seconds between progress lines when stderr is not a terminal (5)",
    "NEUROFETCH_PROGRESS_BIG_FILE": "bytes from which a file in flight gets its own progress line (50000000)",
    "NEUROFETCH_S3_BACKEND": "`boto3`: S3 transfers through boto3 only (no obstore fast path)",
    "NEUROFETCH_S3_LOCK_STALE": "seconds after which the lock object of a killed `s3-sync` upload is taken over (120)",
    "DATAMINT_API_URL": "default URL of `datamint` profiles without one (the official client's variable)",
    "DATAMINT_API_KEY": "the Datamint API key when `NEUROFETCH_API_KEY` is not set",
    "AWS_*": "S3 credentials, profile, region and endpoint, as for the AWS CLI (`AWS_ACCESS_KEY_ID`, "
    "`AWS_PROFILE`, `AWS_ENDPOINT_URL_S3`, ...)",
    "NO_COLOR": "any value: no colours (also `--no-color`)",
    "FORCE_COLOR": "colours even without a terminal; progress is still printed as lines, never redrawn",
    "CI": "set: no animated progress, even on a terminal",
    "TERM": "`dumb`: no animated progress",
    "PYTHON_KEYRING_BACKEND": "which keyring backend python-keyring uses (see docs/credentials.md)",
}

PROFILE_KEY_MEANINGS = {
    "service": "`loris`, `neurovault`, `allen`, `datamint` or `s3`",
    "url": "the service's address; LORIS: the API base, e.g. `https://openpreventad.loris.ca/api/v0.0.3-dev`",
    "username": "the account name (LORIS)",
    "jobs": "parallel transfers",
    "timeout": "seconds to wait for a slow answer before retrying",
    "verify_tls": "`true`, `false` or the path of a CA bundle",
    "retries": "retries of a failed request",
    "retry_wait_max": "longest wait between retries, in seconds",
    "bwlimit": "one bandwidth cap for the whole run, up and down, in bytes per second (`10M`, `500k`); not s3-sync",
    "wait": "wait this many seconds (or `forever`) for another run's destination lock instead of exiting 4",
    "segments": "byte ranges fetched at once per large file where the server serves ranges correctly (1–32)",
    "endpoint_url": "S3-compatible endpoint (MinIO, Ceph, ...)",
    "aws_profile": "the AWS CLI profile with the S3 credentials",
    "region": "the S3 region",
    "api_version": "the LORIS API version (`v0.0.3-dev`, `v0.0.3`, `v0.0.4-dev`) when `url` is the LORIS host or its "
    "`/api` rather than the API base; with neither, neurofetch asks the server once which one it serves",
}


def _program(module: str) -> Any:
    import importlib

    import typer.main

    return typer.main.get_command(importlib.import_module(module).app)


def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every visible command, depth first, in the order `--help` lists them."""
    yield path, command
    subcommands = getattr(command, "commands", None)
    if subcommands:
        ctx = command.make_context(path[0], [], resilient_parsing=True)
        for name in command.list_commands(ctx):
            sub = subcommands[name]
            if not getattr(sub, "hidden", False):
                yield from walk(sub, (*path, name))


def all_commands() -> list[tuple[tuple[str, ...], Any]]:
    return [item for name, module in PROGRAMS for item in walk(_program(module), (name,))]


def value_label(param: Any) -> str:
    if param.metavar:
        return str(param.metavar)
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    args = getattr(annotation, "__args__", None)
    if args:
        annotation = next((a for a in args if a is not type(None)), annotation)
    name = getattr(annotation, "__name__", "")
    label = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "Path": "PATH"}.get(name, "VALUE")
    if param.param_type_name == "argument":
        return str(param.name).upper()
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None or high is not None:
        label += f" ({'' if low is None else low}..{'' if high is None else high})"
    return label


def argument_label(param: Any) -> str:
    label = value_label(param)
    return label + "..." if param.nargs == -1 and not label.endswith("...") else label


def option_cell(param: Any) -> str:
    names = ", ".join(sorted(param.opts, key=lambda o: (o.startswith("--"), o)))
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    if not getattr(param, "is_flag", False):
        names += f" {value_label(param)}"
    return "`" + names.replace("|", "\\|") + "`"


def default_text(param: Any) -> str:
    default = param.default
    if default in (None, False, (), []) or getattr(param, "is_flag", False) or callable(default):
        return ""
    return f" (default: `{default}`)"


def cell(text: str) -> str:
    """One table cell: one line, with what Markdown would eat escaped."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def command_section(path: tuple[str, ...], command: Any) -> list[str]:
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    arguments = [p for p in params if p.param_type_name == "argument"]
    options = [p for p in params if p.param_type_name == "option"]
    usage = " ".join([*path, "[OPTIONS]", *(argument_label(a) for a in arguments)])
    if getattr(command, "commands", None):
        usage = " ".join([*path, "[OPTIONS]", "COMMAND", "[ARGS]..."])
    lines = [f"{'#' * min(len(path) + 2, 6)} `{' '.join(path)}`", "", f"Usage: `{usage}`", ""]
    if command.help:
        lines += ["```text", inspect.cleandoc(command.help), "```", ""]
    if arguments:
        lines += ["| argument | meaning |", "|---|---|"]
        lines += [
            f"| `{argument_label(a)}` | {cell(getattr(a, 'help', '') or '')}{' (required)' if a.required else ''} |"
            for a in arguments
        ]
        lines.append("")
    if options:
        lines += ["| option | environment | meaning |", "|---|---|---|"]
        for option in options:
            env = f"`{option.envvar}`" if option.envvar else ""
            lines.append(f"| {option_cell(option)} | {env} | {cell(option.help or '')}{default_text(option)} |")
        lines.append("")
    if len(path) > 1 and not getattr(command, "commands", None):
        lines += [f"Also takes the global options of `{path[0]}`, before or after `{' '.join(path[1:])}`.", ""]
    if command.epilog:
        lines += ["Examples:", "", "```sh", inspect.cleandoc(command.epilog), "```", ""]
    return lines


def option_env() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, command in all_commands():
        for param in command.params:
            if getattr(param, "envvar", None) and param.param_type_name == "option":
                found.setdefault(param.envvar, []).append(f"`{' '.join(path)} {param.opts[0]}`")
    return found


def render() -> str:
    from neurofetch.errors import ExitCode
    from neurofetch.settings import PROFILE_KEYS, SERVICE_KEYS

    lines = [
        "# neurofetch reference",
        "",
        "Every command, option, environment variable and exit code. Generated from the commands "
        "themselves by `python docs/gen_reference.py`; a test fails when this file and `--help` disagree. "
        "Guides: [cron.md](cron.md), [ci.md](ci.md), [slurm.md](slurm.md), "
        "[credentials.md](credentials.md).",
        "",
        "Every option that has an environment variable reads it when the option is not given; the "
        "precedence is: built-in defaults < config file < environment < command-line flags. "
        "No secret is ever accepted as a command-line value.",
        "",
        "## Exit codes",
        "",
        "| code | name | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| {code.value} | {code.name} | {EXIT_MEANINGS[code.name]} |" for code in ExitCode]
    lines += ["", "## Environment variables", "", "| variable | meaning |", "|---|---|"]
    for name, where in sorted(option_env().items()):
        lines.append(f"| `{name}` | same as {', '.join(sorted(set(where)))} |")
    lines += [f"| `{name}` | {meaning} |" for name, meaning in OTHER_ENV.items() if name not in option_env()]
    lines += [
        "",
        "## Profile keys",
        "",
        "Keys of a profile in the config file (`neurofetch-config set` writes them).",
        "",
        "| key | services | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{key}` | all | {PROFILE_KEY_MEANINGS[key]} |" for key in PROFILE_KEYS]
    lines += [
        f"| `{key}` | {service} | {PROFILE_KEY_MEANINGS[key]} |"
        for service, keys in SERVICE_KEYS.items()
        for key in keys
    ]
    lines += ["", "## Commands", ""]
    for path, command in all_commands():
        lines += command_section(path, command)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run python docs/gen_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))
