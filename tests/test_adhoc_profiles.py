"""Ad-hoc profiles (--url/--service, NEUROFETCH_URL/NEUROFETCH_SERVICE) are self-contained: with a default LORIS
profile in the config file, a run on another service never sends anything, least of all a credential, to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.datamint_support import KEY, datamint_server
from tests.helpers import run_cli


@pytest.fixture
def datamint() -> Iterator[Any]:
    with datamint_server() as emulator:
        yield emulator


@pytest.fixture
def allen() -> Iterator[Any]:
    from neurofetch.emulators.allen.app import AllenEmulator

    emulator = AllenEmulator()
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


@pytest.fixture
def lab_config(loris: Any, tmp_path: Path) -> dict[str, str]:
    """A config file whose default profile is a LORIS server (the emulator), with a user and its own jobs."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_profile: lab\nprofiles:\n  lab:\n    service: loris\n    url: {loris.url}\n"
        "    username: alice\n    jobs: 3\n"
    )
    return {"NEUROFETCH_CONFIG": str(config)}


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_datamint_variables_send_nothing_to_the_default_loris_profile(
    loris: Any, datamint: Any, lab_config: dict[str, str], tmp_path: Path
) -> None:
    env = {**lab_config, "DATAMINT_API_URL": datamint.url, "DATAMINT_API_KEY": KEY}
    result = run_cli("--json", "--service", "datamint", "mirror", tmp_path / "d", env=env)
    assert result.code == 0, result.stderr
    assert loris.log.entries() == []
    assert datamint.log.entries() and all(e.headers.get("apikey") == KEY for e in datamint.log.entries())


def test_service_flag_beats_a_profile_named_in_the_environment(
    loris: Any, datamint: Any, lab_config: dict[str, str], tmp_path: Path
) -> None:
    env = {**lab_config, "NEUROFETCH_PROFILE": "lab", "DATAMINT_API_URL": datamint.url, "NEUROFETCH_API_KEY": KEY}
    result = run_cli("--service", "datamint", "mirror", tmp_path / "d", env=env)
    assert result.code == 0, result.stderr
    assert loris.log.entries() == [] and datamint.log.entries()


def test_profile_flag_beats_a_url_in_the_environment(
    loris: Any, datamint: Any, lab_config: dict[str, str], tmp_path: Path
) -> None:
    env = {**lab_config, "NEUROFETCH_URL": datamint.url, "NEUROFETCH_USERNAME": "demo", "NEUROFETCH_PASSWORD": "demo"}
    result = run_cli("-p", "lab", "mirror", tmp_path / "d", env=env)
    assert result.code == 0, result.stderr
    assert datamint.log.entries() == [] and loris.log.entries()


def test_service_is_case_insensitive_and_reaches_the_url_given(
    loris: Any, allen: Any, lab_config: dict[str, str], tmp_path: Path
) -> None:
    plate = allen.atlas_images(1)[0]
    result = run_cli(
        "--service",
        "Allen",
        "atlas-image",
        str(plate["id"]),
        "--downsample",
        "6",
        "--out",
        tmp_path / "o",
        env={**lab_config, "NEUROFETCH_URL": allen.url},
    )
    assert result.code == 0, result.stderr
    assert loris.log.entries() == [] and allen.log.entries()


def test_public_services_need_no_url_and_inherit_nothing(lab_config: dict[str, str]) -> None:
    from neurofetch.settings import GlobalOptions, select_profile

    for service, url in [
        ("allen", "https://api.brain-map.org"),
        ("neurovault", "https://neurovault.org"),
        ("datamint", "https://api.datamint.io"),
    ]:
        profile = select_profile(GlobalOptions(service=service), lab_config)
        assert (profile.service, profile.url, profile.username, profile.jobs) == (service, url, None, 4)
    s3 = select_profile(GlobalOptions(), {**lab_config, "NEUROFETCH_SERVICE": "s3"})
    assert (s3.service, s3.url, s3.username) == ("s3", "", None)
    inferred = select_profile(GlobalOptions(url="https://neurovault.org/"), lab_config)
    assert (inferred.service, inferred.url) == ("neurovault", "https://neurovault.org")
    preventad = select_profile(GlobalOptions(url="https://openpreventad.loris.ca/api/v0.0.3-dev"), lab_config)
    assert (preventad.service, preventad.username) == ("loris", None)


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (["-p", "lab", "--url", "http://127.0.0.1:9/api"], {}, ["--profile", "--url"]),
        (["-p", "lab", "--service", "allen"], {}, ["--profile", "--service"]),
        (
            [],
            {"NEUROFETCH_PROFILE": "lab", "NEUROFETCH_URL": "http://127.0.0.1:9/api"},
            ["NEUROFETCH_PROFILE", "NEUROFETCH_URL"],
        ),
        (
            [],
            {"NEUROFETCH_PROFILE": "lab", "NEUROFETCH_SERVICE": "allen"},
            ["NEUROFETCH_PROFILE", "NEUROFETCH_SERVICE"],
        ),
        (["--service", "loris"], {}, ["--service loris", "--url"]),
        ([], {"NEUROFETCH_SERVICE": "loris"}, ["NEUROFETCH_SERVICE=loris", "NEUROFETCH_URL"]),
        (["--url", "http://127.0.0.1:9/api"], {}, ["--url http://127.0.0.1:9/api", "--service"]),
        (["--service", "gopher"], {}, ["--service gopher", "unknown service"]),
    ],
)
def test_contradictory_or_incomplete_choices_are_usage_errors(
    loris: Any, lab_config: dict[str, str], tmp_path: Path, args: list[str], env: dict[str, str], names: list[str]
) -> None:
    result = run_cli(*args, "mirror", tmp_path / "d", env={**lab_config, **env, "NEUROFETCH_PASSWORD": "demo"})
    line = one_line(result.stderr)
    assert result.code == 2 and all(name in line for name in names), line
    assert loris.log.entries() == [] and not (tmp_path / "d").exists()
