"""neurofetch-config: the wizard driven in a real pseudo-terminal against the emulators, and the
non-interactive subcommands that scripts use instead."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from tests.helpers import CliRun, run_subprocess

pexpect = pytest.importorskip("pexpect", reason="pexpect drives the wizard in a pseudo-terminal (POSIX only)")

COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;5;\d+)m")


def config_command() -> list[str]:
    script = Path(sys.executable).with_name("neurofetch-config")
    return [str(script)] if script.exists() else [sys.executable, "-m", "neurofetch.cli.config_app"]


@pytest.fixture
def tty_env(tmp_path: Path) -> dict[str, str]:
    """A child's environment: the isolated home, and a keyring kept in a file the test can read."""
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[1]),
        "TERM": "xterm",
        "NO_COLOR": "1",
        "PYTHON_KEYRING_BACKEND": "tests.file_keyring.FileKeyring",
        "NEUROFETCH_TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
    }


class Session:
    """The wizard in a pseudo-terminal; ``answer`` waits for a question, then types the reply."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        command = config_command()
        self.child = pexpect.spawn(
            command[0], [*command[1:], *args], env=env, encoding="utf-8", timeout=20, dimensions=(50, 200)
        )
        self.seen: list[str] = []

    def answer(self, question: str, reply: str) -> str:
        self.child.expect(question + r"[^\r\n]*: ")
        self.seen.append(self.child.before + self.child.after)
        self.child.sendline(reply)
        return self.child.before

    def finish(self) -> tuple[int, str]:
        self.child.expect(pexpect.EOF)
        self.seen.append(self.child.before)
        self.child.close()
        return self.child.exitstatus, "".join(self.seen)


def keyring_file(env: dict[str, str]) -> dict[str, str]:
    path = Path(env["NEUROFETCH_TEST_KEYRING_FILE"])
    return json.loads(path.read_text()) if path.exists() else {}


def config_file(home: Path) -> Path:
    return home / ".config" / "neurofetch" / "config.yaml"


def add_loris_profile(session: Session, url: str, password: str) -> None:
    session.answer("Service", "")  # loris is the default
    session.answer("URL", url)
    session.answer("Profile name", "lab")
    session.answer("LORIS username", "demo")
    session.answer("jobs", "2")
    session.answer("Password", password)


def test_new_user_adds_a_loris_profile_and_a_mirror_then_needs_no_password(
    loris, tty_env, isolated_home: Path, tmp_path: Path
) -> None:
    session = Session(tty_env)
    add_loris_profile(session, loris.url, "demo")
    session.answer("What next", "quit")
    code, screen = session.finish()
    assert code == 0, screen
    assert "Connection test passed: logged in to" in screen and "as demo" in screen
    path = config_file(isolated_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "default_profile: lab" in text and loris.url in text and "demo" in text and "jobs: 2" in text
    stored = keyring_file(tty_env)
    assert stored[f"neurofetch:loris:{loris.url}\tdemo"] == "demo"
    assert "demo" not in text.replace("username: demo", "")  # the password is not in the file
    mirror = run_subprocess(
        "mirror", tmp_path / "study", "--candidate", sorted(loris.dataset.expected_tree())[0].split("/")[0], env=tty_env
    )
    assert mirror.code == 0, mirror.stderr


def test_wrong_password_is_reported_plainly_and_nothing_is_saved(loris, tty_env, isolated_home: Path) -> None:
    session = Session(tty_env)
    add_loris_profile(session, loris.url, "not-the-password")
    session.answer("Save the profile anyway", "n")
    session.answer("What next", "quit")
    code, screen = session.finish()
    assert code == 0
    assert "Connection test FAILED: LORIS refused the login for 'demo'" in screen
    assert "Not saved." in screen
    assert not config_file(isolated_home).exists() and keyring_file(tty_env) == {}


def test_without_a_keyring_the_wizard_explains_the_environment_variables(loris, tty_env, isolated_home) -> None:
    env = {**tty_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    session = Session(env)
    add_loris_profile(session, loris.url, "demo")
    session.answer("What next", "quit")
    code, screen = session.finish()
    assert code == 0
    notice = [line for line in screen.splitlines() if "No usable keyring" in line]
    assert len(notice) == 1 and "later runs need NEUROFETCH_PASSWORD in their environment." in notice[0]
    assert "--password-stdin" not in screen and "NEUROFETCH_TOKEN" not in screen  # nothing that fails here
    assert "Connection test passed" in screen
    assert "lab:" in config_file(isolated_home).read_text()


def test_public_services_and_s3_offer_their_known_urls_and_are_tested(tty_env, isolated_home) -> None:
    from neurofetch.emulators.allen.app import AllenEmulator
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    allen, neurovault = AllenEmulator(), NeuroVaultEmulator()
    with allen.serve() as allen_server, neurovault.serve() as nv_server:
        session = Session(tty_env)
        session.answer("Service", "neurovault")
        offered = session.answer("URL", neurovault.base_url(nv_server))
        assert "Known server: NeuroVault, https://neurovault.org" in offered
        session.answer("Profile name", "")  # suggested: neurovault
        session.answer("jobs", "")
        session.answer("What next", "add")
        session.answer("Service", "allen")
        offered = session.answer("URL", allen.base_url(allen_server))
        assert "https://api.brain-map.org" in offered
        session.answer("Profile name", "")
        session.answer("jobs", "")
        session.answer("default profile", "y")
        session.answer("What next", "add")
        session.answer("Service", "s3")
        session.answer("S3 endpoint URL", "https://s3.example.org")
        session.answer("AWS profile", "lab")
        session.answer("Region", "")
        session.answer("Profile name", "")
        session.answer("jobs", "16")
        session.answer("Bucket", "")
        session.answer("default profile", "n")
        session.answer("What next", "quit")
        code, screen = session.finish()
    assert code == 0, screen
    assert "Connection test skipped: no bucket given to list" in screen
    assert re.search(r"Connection test passed: NeuroVault at \S+ answered \(\d+ public collections\)", screen)
    assert re.search(r"Connection test passed: the Allen Brain Map API at \S+ answered", screen)
    text = config_file(isolated_home).read_text()
    assert "default_profile: allen" in text and "neurovault:" in text
    assert "  s3:\n    service: s3\n    endpoint_url: https://s3.example.org\n    aws_profile: lab\n" in text


def test_datamint_api_key_is_checked_and_kept_in_the_keyring(tty_env) -> None:
    from neurofetch.emulators.datamint.app import DatamintEmulator

    emulator = DatamintEmulator()
    with emulator.serve() as server:
        url = emulator.base_url(server)
        session = Session(tty_env)
        session.answer("Service", "datamint")
        offered = session.answer("URL", url)
        session.answer("Profile name", "dm")
        session.answer("jobs", "")
        session.answer("API key", "demo-key")
        session.answer("What next", "quit")
        code, screen = session.finish()
    assert code == 0
    assert "Known server: Datamint, https://api.datamint.io" in offered
    assert "Connection test passed: the API key was accepted" in screen
    assert keyring_file(tty_env)[f"neurofetch:datamint:{url}\t(api key)"] == "demo-key"
    assert "demo-key" not in screen


def test_edit_keeps_comments_and_unknown_keys_and_delete_forgets_the_secret(loris, tty_env, isolated_home) -> None:
    path = config_file(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text(
        "# my lab's servers\ndefault_profile: lab\nprofiles:\n  lab:\n    service: loris   # ours\n"
        f"    url: {loris.url}\n    username: demo\n    ticket: RT-42\n"
        "  old: {service: allen}\n"
    )
    path.chmod(0o644)
    session = Session(tty_env)
    session.answer("What next", "edit")
    session.answer("Which profile", "lab")
    session.answer("URL", "")
    session.answer("LORIS username", "")
    session.answer("jobs", "3")
    session.answer("Password", "demo")
    session.answer("What next", "delete")
    session.answer("Delete which profile", "old")
    session.answer(r"Delete profile 'old'\?", "y")
    session.answer("What next", "quit")
    code, screen = session.finish()
    assert code == 0, screen
    text = path.read_text()
    assert text.startswith("# my lab's servers\n")
    assert "service: loris   # ours" in text and "ticket: RT-42" in text and "jobs: 3" in text
    assert "old:" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_colours_on_a_terminal_and_none_with_no_color(loris, tty_env) -> None:
    screens = {}
    for name, extra in (("colour", {"NO_COLOR": ""}), ("plain", {"NO_COLOR": "1"})):
        session = Session({**tty_env, **extra, "NEUROFETCH_CONFIG": str(Path(tty_env["HOME"]) / f"{name}.yaml")})
        add_loris_profile(session, loris.url, "demo")
        session.answer("What next", "quit")
        screens[name] = session.finish()[1]
    assert COLOUR.search(screens["colour"])
    assert not COLOUR.search(screens["plain"])


def test_without_a_terminal_the_wizard_refuses_in_one_line(tty_env) -> None:
    result = run_config_subprocess(env=tty_env)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "neurofetch-config set NAME" in lines[0] and "config.yaml" in lines[0]
    session = Session(tty_env, "--no-input")  # a terminal, but --no-input: no questions either
    code, screen = session.finish()
    assert code == 2 and "neurofetch-config set NAME" in screen


def run_config_subprocess(*args: str, env: dict[str, str], input: str | None = None) -> CliRun:
    import subprocess

    proc = subprocess.run(
        [*config_command(), *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


# -- the non-interactive equivalents, in-process ---------------------------------------------------------------


def run_config(*args: str, env: dict[str, str] | None = None) -> CliRun:
    from typer.testing import CliRunner

    from neurofetch.cli.config_app import main

    with CliRunner().isolation(env=env or {}) as streams:
        code = main([str(a) for a in args])
        sys.stdout.flush()
        sys.stderr.flush()
        return CliRun(code, streams[0].getvalue().decode(), streams[1].getvalue().decode())


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "config.yaml"
    monkeypatch.setenv("NEUROFETCH_CONFIG", str(path))
    return path


def test_set_list_show_default_delete(config: Path, memory_keyring) -> None:
    assert (
        run_config(
            "set",
            "lab",
            "service=loris",
            "url=https://loris.example.org/api/v0.0.3-dev",
            "username=jdoe",
            "jobs=2",
            "verify_tls=false",
        ).code
        == 0
    )
    assert run_config("set", "atlas", "service=allen").code == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    listing = run_config("list").stdout.splitlines()
    assert listing[0].split()[:2] == ["lab", "loris"] and listing[0].endswith("(default)")
    assert listing[1].split() == ["atlas", "allen", "https://api.brain-map.org"]
    memory_keyring.set_password("neurofetch:loris:https://loris.example.org/api/v0.0.3-dev", "jdoe", "hunter22")
    shown = run_config("show", "lab").stdout
    assert "username: jdoe" in shown and "jobs: 2" in shown and "verify_tls: False" in shown
    assert "password: ******** (in the keyring, for jdoe)" in shown and "hunter22" not in shown
    assert run_config("set", "lab", "verify_tls=").code == 0  # KEY= removes a key
    assert "verify_tls: True  (default)" in run_config("show").stdout
    assert run_config("default", "atlas").code == 0
    assert "default_profile: atlas" in config.read_text()
    deleted = run_config("delete", "lab", "--forget-secrets")
    assert deleted.code == 0 and "removed the stored password" in deleted.stderr
    assert memory_keyring.store == {}
    assert [line.split()[0] for line in run_config("list").stdout.splitlines()] == ["atlas"]


def test_set_refuses_secrets_and_bad_values(config: Path) -> None:
    for args, words in (
        (["lab", "service=loris", "url=http://h/api", "password=hunter22"], "never goes into"),
        (["lab", "service=ftp"], "service"),
        (["lab", "service=loris", "jobs=many"], "whole number"),
        (["bad/name", "service=allen"], "profile name"),
        (["lab", "oops"], "KEY=VALUE"),
    ):
        result = run_config("set", *args)
        assert result.code == 2 and words in result.stderr, (args, result.stderr)
        assert "hunter22" not in result.stderr
    assert not config.exists()


def test_set_keeps_comments_and_unknown_keys(config: Path) -> None:
    config.parent.mkdir()
    config.write_text(
        "# top\nprofiles:\n    nv:   # my collections\n        service: neurovault\n        note: keep\ncolour: blue\n"
    )
    assert run_config("set", "nv", "jobs=8").code == 0
    assert config.read_text() == (
        "# top\ndefault_profile: nv\nprofiles:\n    nv:   # my collections\n"
        "        service: neurovault\n        note: keep\n        jobs: 8\ncolour: blue\n"
    )
    from neurofetch.settings import GlobalOptions, select_profile

    assert select_profile(GlobalOptions(config=str(config))).jobs == 8


def test_test_subcommand_exit_codes(config: Path, loris) -> None:
    assert run_config("set", "lab", "service=loris", f"url={loris.url}", "username=demo").code == 0
    ok = run_config("test", env={"NEUROFETCH_PASSWORD": "demo"})
    assert ok.code == 0 and "lab: connection test passed: logged in" in ok.stderr
    assert run_config("test").code == 3  # no password anywhere
    wrong = run_config("test", env={"NEUROFETCH_PASSWORD": "nope"})
    assert wrong.code == 3 and "FAILED" in wrong.stderr and "nope" not in wrong.stderr
    assert run_config("set", "gone", "service=neurovault", "url=http://127.0.0.1:9").code == 0
    assert run_config("test", "gone").code == 5
