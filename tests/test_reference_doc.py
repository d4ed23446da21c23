"""docs/reference.md against the live CLI: every command's --help, every exit code, every environment
variable the code reads; and --help of every command stays light (nothing heavy imported)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
HEAVY = {
    "httpx",
    "httpcore",
    "keyring",
    "yaml",
    "ruamel",
    "rich.progress",
    "tenacity",
    "starlette",
    "uvicorn",
    "boto3",
    "botocore",
    "obstore",
    "pydicom",
    "PIL",
    "numpy",
    "nibabel",
    "h5py",
    "sqlite3",
}
# (typer 0.29 itself imports pydantic for a subcommand's --help: not ours to avoid.)


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_is_regenerated() -> None:
    assert generator().render() == REFERENCE.read_text(), (
        "docs/reference.md differs from the commands' definitions: run `python docs/gen_reference.py`"
    )


def section(text: str, path: tuple[str, ...]) -> str:
    """The part of the reference about one command, up to the next command's heading."""
    heading = re.search(rf"^#+ `{re.escape(' '.join(path))}`$", text, flags=re.M)
    assert heading, f"no section for {' '.join(path)} in docs/reference.md"
    following = re.search(r"^#+ `", text[heading.end() :], flags=re.M)
    return text[heading.end() : heading.end() + following.start() if following else len(text)]


def help_screen(path: tuple[str, ...]) -> str:
    from neurofetch.__main__ import run_app

    module = "neurofetch.cli.app" if path[0] == "neurofetch" else "neurofetch.cli.config_app"
    with CliRunner().isolation(env={"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"}) as streams:
        code = run_app(module, [*path[1:], "--help"], prog_name=path[0])
        sys.stdout.flush()
        output = streams[0].getvalue().decode() + streams[1].getvalue().decode()
    assert code == 0, output
    return output


def test_every_option_and_variable_of_every_help_screen_is_in_the_reference() -> None:
    text = REFERENCE.read_text()
    paths = [path for path, _ in generator().all_commands()]
    assert {("neurofetch", "mirror"), ("neurofetch-config",), ("neurofetch-config", "set")} <= set(paths)
    for path in paths:
        screen = help_screen(path)
        part = section(text, path)
        panel = "\n".join(re.findall(r"^Options:\n(.*?)(?:\n\S|\Z)", screen, flags=re.S | re.M))
        options = set(re.findall(r"(?<![\w-])--?[a-zA-Z][a-z0-9-]*", panel)) - {"--help", "-h"}
        if path == ("neurofetch", "mirror"):
            assert {"--shard", "--jobs", "-j"} <= options, screen  # the panel was read
        missing = {o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", part)}
        assert not missing, f"{' '.join(path)} --help shows {sorted(missing)}, docs/reference.md does not"
        own = screen.split("Global options", 1)[0]  # the global options are documented once, at the program
        for variable in re.findall(r"env var: (\w+)", own):
            assert f"`{variable}`" in part, f"{' '.join(path)}: {variable} is not in docs/reference.md"


def test_every_exit_code_is_documented() -> None:
    from neurofetch.errors import ExitCode

    text = REFERENCE.read_text()
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| {code.name} \| \w", text, flags=re.M), code


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    text = REFERENCE.read_text()
    used = set()
    for source in (ROOT / "neurofetch").rglob("*.py"):
        used |= set(re.findall(r"[\"']((?:NEUROFETCH|DATAMINT)_[A-Z0-9_]+)[\"']", source.read_text()))
    assert used
    missing = sorted(name for name in used if f"`{name}`" not in text)
    assert not missing, f"read by the code, missing in docs/reference.md (add to OTHER_ENV): {missing}"


def test_help_of_every_command_imports_nothing_heavy() -> None:
    """All --help screens rendered in one fresh interpreter, then what it imported is inspected."""
    paths = [list(path) for path, _ in generator().all_commands()]
    script = (
        "import json, sys\n"
        "from neurofetch.__main__ import run_app\n"
        "for path in json.loads(sys.argv[1]):\n"
        "    module = 'neurofetch.cli.app' if path[0] == 'neurofetch' else 'neurofetch.cli.config_app'\n"
        "    assert run_app(module, [*path[1:], '--help'], prog_name=path[0]) == 0, path\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    heavy = {m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY - {"rich.progress"}}
    assert not heavy, f"--help imported {sorted(heavy)}"


@pytest.mark.parametrize("program", ["neurofetch", "neurofetch-config"])
def test_shell_completion_is_offered(program: str) -> None:
    assert "--install-completion" in help_screen((program,))
