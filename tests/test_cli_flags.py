"""Flags and profiles as users of aws-cli, rclone and gh expect them: global options after the command,
-q keeping the summary, neurofetch-config's checks, shell completion, one-service commands choosing their
profile, and --help screens with examples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli, tree_files
from tests.test_reference_doc import generator, help_screen

ROOT = Path(__file__).parents[1]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def loris_config(loris, tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "config.yaml",
        f"default_profile: other\nprofiles:\n"
        f"  other: {{service: neurovault, url: http://127.0.0.1:9}}\n"
        f"  study: {{service: loris, url: '{loris.url}', username: demo}}\n",
    )


# -- 1. global options anywhere ----------------------------------------------------------------------------------
def test_json_and_quiet_after_the_command(loris, loris_env, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "a", "--json", "-q", env=loris_env)
    assert result.code == 0, result.stderr
    assert result.json["status"] == "ok" and result.json["command"] == "mirror"
    assert tree_files(tmp_path / "a") == loris.dataset.expected_tree()
    assert "progress:" not in result.stderr


def test_profile_and_config_after_the_command(loris, loris_config, tmp_path: Path) -> None:
    result = run_cli(
        "mirror", tmp_path / "b", "--config", loris_config, "-p", "study", "--json", env={"NEUROFETCH_PASSWORD": "demo"}
    )
    assert result.code == 0, result.stderr
    assert tree_files(tmp_path / "b") == loris.dataset.expected_tree()


def test_url_and_service_after_the_command_beat_a_profile_variable(loris, tmp_path: Path) -> None:
    env = {"NEUROFETCH_USERNAME": "demo", "NEUROFETCH_PASSWORD": "demo", "NEUROFETCH_PROFILE": "absent"}
    result = run_cli("mirror", tmp_path / "c", "--url", loris.url, "--service", "loris", env=env)
    assert result.code == 0, result.stderr
    assert tree_files(tmp_path / "c") == loris.dataset.expected_tree()


def test_profile_after_the_command_beats_url_variables(loris, loris_config, tmp_path: Path) -> None:
    env = {
        "NEUROFETCH_URL": "http://127.0.0.1:9",
        "NEUROFETCH_SERVICE": "neurovault",
        "NEUROFETCH_CONFIG": str(loris_config),
        "NEUROFETCH_PASSWORD": "demo",
    }
    result = run_cli("mirror", tmp_path / "d", "-p", "study", env=env)
    assert result.code == 0, result.stderr


def test_verbose_log_file_no_color_no_input_after_the_command(loris, loris_env, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    result = run_cli("mirror", tmp_path / "e", "-v", "--log-file", log, "--no-color", "--no-input", env=loris_env)
    assert result.code == 0, result.stderr
    assert "debug: " in result.stderr
    assert "mirror: done:" in log.read_text()
    assert "\x1b[" not in result.stderr


def test_an_option_value_that_looks_like_a_global_flag_stays_a_value(loris, loris_env, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "v", "--include", "-v", "--json", env=loris_env)
    assert result.code == 0, result.stderr
    assert "debug: " not in result.stderr
    assert result.json["counts"].get("downloaded", 0) == 0


def test_a_bad_option_after_the_command_still_gets_its_json_document(tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "f", "--json", "--bogus")
    assert result.code == 2
    assert result.json["exit_code"] == 2 and "--bogus" in result.json["error"]


def test_quiet_and_verbose_after_the_command_still_exclude_each_other(tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "g", "-q", "-v")
    assert result.code == 2
    assert "exclude each other" in result.stderr


def test_every_help_lists_the_global_options() -> None:
    for path, _ in generator().all_commands():
        if len(path) == 1 or (path[:2] == ("neurofetch", "emulate") and len(path) == 2):
            continue
        screen = help_screen(path)
        section = screen.split("Global options", 1)
        assert len(section) == 2, f"{' '.join(path)} --help lists no global options"
        expected = (
            ("--json", "-q, --quiet", "-p, --profile NAME", "--log-file PATH")
            if path[0] == "neurofetch"
            else ("--config PATH", "--no-input")
        )
        for option in expected:
            assert option in section[1], (path, option)


# -- 2. -q: errors and the summary line ---------------------------------------------------------------------------
def test_quiet_prints_the_summary_line_only(loris, loris_env, tmp_path: Path) -> None:
    result = run_cli("-q", "mirror", tmp_path / "q", env=loris_env)
    assert result.code == 0
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("mirror: done: ")


# -- 3. neurofetch-config --version, set checks, unknown keys -----------------------------------------------------
def run_config(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    from typer.testing import CliRunner

    from neurofetch.cli.config_app import main

    with CliRunner().isolation(env=env or {}) as streams:
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        return code, streams[0].getvalue().decode() + streams[1].getvalue().decode()


def test_neurofetch_config_version() -> None:
    from neurofetch import __version__

    code, output = run_config("--version")
    assert code == 0 and output.strip() == f"neurofetch-config {__version__}"


def test_set_refuses_an_unknown_key_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    code, output = run_config(
        "--config", str(config), "set", "lab", "service=loris", "url=https://lab.example.org/api/v0.0.3-dev", "jbos=2"
    )
    assert code == 2
    assert "unknown key 'jbos'" in output and "did you mean jobs?" in output
    assert not config.exists()


def test_set_checks_urls_as_the_wizard_does(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    for key, value in (("url", "lab.example.org/api"), ("endpoint_url", "s3.example.org")):
        code, output = run_config(
            "--config", str(config), "set", "lab", f"service={'s3' if key != 'url' else 'loris'}", f"{key}={value}"
        )
        assert code == 2 and "is not a URL" in output, output
    assert not config.exists()
    code, output = run_config(
        "--config",
        str(config),
        "set",
        "bucket",
        "service=s3",
        "endpoint_url=https://s3.example.org",
        "region=eu-west-1",
        "aws_profile=lab",
    )
    assert code == 0, output


def test_unknown_keys_in_the_config_warn_once_per_key(loris, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        f"default_profile: study\ncolour: red\nprofiles:\n"
        f"  study: {{service: loris, url: '{loris.url}', username: demo, jbos: 2}}\n"
        f"  bucket: {{service: s3, endpoint_url: 'https://s3.example.org', region: eu}}\n",
    )
    result = run_cli("--config", config, "mirror", tmp_path / "w", env={"NEUROFETCH_PASSWORD": "demo"})
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"neurofetch: warning: unknown key 'colour' in {config} is ignored",
        f"neurofetch: warning: unknown key 'jbos' of profile 'study' in {config} is ignored (did you mean jobs?)",
    ]


def test_the_example_configs_have_no_unknown_keys() -> None:
    from neurofetch.settings import load_config, unknown_key_warnings

    for path in sorted((ROOT / "configs").glob("*.yaml")):
        assert unknown_key_warnings(load_config(path), path) == [], path


def test_every_profile_key_the_code_reads_is_known() -> None:
    from neurofetch.settings import PROFILE_KEYS, SERVICE_KEYS

    known = set(PROFILE_KEYS).union(*SERVICE_KEYS.values())
    read = set()
    for source in (ROOT / "neurofetch").rglob("*.py"):
        if "emulators" not in source.parts:
            read |= set(re.findall(r"(?:profile\.|(?<![\w.`]))extra(?:\.get\(|\[)[\"'](\w+)[\"']", source.read_text()))
    assert read and read <= known, read - known


# -- 4. shell completion ------------------------------------------------------------------------------------------
def complete(words: str, tmp_path: Path, program: str = "neurofetch") -> list[str]:
    config = write_config(
        tmp_path / "two.yaml",
        "default_profile: preventad\nprofiles:\n"
        "  preventad: {service: loris, url: 'http://127.0.0.1:9/api'}\n"
        "  allen-local: {service: allen, url: 'http://127.0.0.1:9'}\n",
    )
    module = "neurofetch" if program == "neurofetch" else "neurofetch.cli.config_app"
    var = f"_{program.replace('-', '_').upper()}_COMPLETE"
    env = {
        **os.environ,
        var: "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
        "NEUROFETCH_CONFIG": str(config),
    }
    proc = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_completion_of_profiles_and_services(tmp_path: Path) -> None:
    assert complete("neurofetch -p ", tmp_path) == ["preventad", "allen-local"]
    assert complete("neurofetch mirror out -p al", tmp_path) == ["allen-local"]
    assert complete("neurofetch --service ", tmp_path) == ["loris", "neurovault", "allen", "datamint", "s3"]
    assert complete("neurofetch atlas-image --service a", tmp_path) == ["allen"]
    for command in ("show", "test", "delete", "default"):
        assert complete(f"neurofetch-config {command} ", tmp_path, "neurofetch-config") == ["preventad", "allen-local"]


def test_completion_reads_the_config_given_on_the_command_line(tmp_path: Path) -> None:
    other = write_config(tmp_path / "other.yaml", "profiles:\n  lab: {service: s3}\n")
    assert complete(f"neurofetch --config {other} mirror -p ", tmp_path) == ["lab"]


# -- 5. commands of one service choose its profile ----------------------------------------------------------------
@pytest.fixture
def allen() -> Iterator[object]:
    from neurofetch.emulators.allen.app import AllenEmulator

    emulator = AllenEmulator(page_size_cap=50)
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


def test_atlas_image_uses_the_only_allen_profile_when_the_default_is_loris(allen, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        "default_profile: preventad\nprofiles:\n"
        "  preventad: {service: loris, url: 'http://127.0.0.1:9/api/v0.0.3-dev'}\n"
        f"  brain-map: {{service: allen, url: '{allen.url}'}}\n",
    )
    image_id = allen.atlas_images(2)[0]["id"]  # type: ignore[attr-defined]
    result = run_cli(
        "--config", config, "--json", "atlas-image", str(image_id), "--downsample", "6", "-o", tmp_path / "out"
    )
    assert result.code == 0, result.stderr
    assert [p.suffix for p in (tmp_path / "out").rglob("*.jpg")] == [".jpg"]


def test_several_allen_profiles_and_a_loris_default_name_the_choices(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        "default_profile: preventad\nprofiles:\n"
        "  preventad: {service: loris, url: 'http://127.0.0.1:9/api/v0.0.3-dev'}\n"
        "  brain-map: {service: allen, url: 'http://127.0.0.1:9'}\n"
        "  mirror-site: {service: allen, url: 'http://127.0.0.1:9'}\n",
    )
    result = run_cli("--config", config, "atlas-image", "1", "-o", tmp_path / "out")
    assert result.code == 2
    assert "-p brain-map, -p mirror-site, or --service allen" in result.stderr
    assert not (tmp_path / "out").exists()


# -- 6. --help: examples, plain metavars --------------------------------------------------------------------------
def test_every_help_ends_with_examples_and_plain_metavars() -> None:
    for path, _ in generator().all_commands():
        screen = help_screen(path)
        usage = screen.splitlines()[0]
        assert "{" not in usage, usage
        assert "<int" not in screen and "RANGE" not in screen, path
        examples = screen.rsplit("Examples:\n", 1)
        assert len(examples) == 2, f"{' '.join(path)} --help has no Examples block"
        lines = [line.strip() for line in examples[1].splitlines() if line.strip()]
        assert 2 <= len(lines) <= 3, (path, lines)
        assert all(path[0] in line for line in lines), lines
        if len(path) > 1:
            assert any(path[-1] in line for line in lines), (path, lines)


def test_examples_are_not_rewrapped() -> None:
    screen = help_screen(("neurofetch-config", "set"))
    assert (
        "  neurofetch-config set preventad service=loris url=https://openpreventad.loris.ca/api/v0.0.3-dev "
        "username=jdoe\n"
    ) in screen


def test_publish_uses_the_only_datamint_profile_when_the_default_is_loris(tmp_path: Path) -> None:
    from tests.datamint_support import KEY, datamint_server, png_bytes

    with datamint_server() as datamint:
        ids = [datamint.add_resource(f"f{i}.png", png_bytes(), mimetype="image/png").id for i in range(2)]
        config = write_config(
            tmp_path / "config.yaml",
            "default_profile: preventad\nprofiles:\n"
            "  preventad: {service: loris, url: 'http://127.0.0.1:9/api/v0.0.3-dev'}\n"
            f"  platform: {{service: datamint, url: '{datamint.url}'}}\n",
        )
        result = run_cli("publish", "--all-inbox", "--config", config, "--json", env={"NEUROFETCH_API_KEY": KEY})
        assert result.code == 0, result.stderr
        assert result.json["counts"] == {"published": 2}
        assert all(datamint.resource(i).status == "published" for i in ids)
