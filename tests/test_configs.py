"""configs/: one commented example profile per service, each loaded the way a run loads it, and each
tested against that service's emulator (the URL pointed at it, as a user of a local server would)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from neurofetch.settings import SERVICES, GlobalOptions, select_profile
from tests.test_config_wizard import run_config

CONFIGS = Path(__file__).parents[1] / "configs"
EXAMPLES = {
    "preventad.yaml": "loris",
    "allen.yaml": "allen",
    "neurovault.yaml": "neurovault",
    "datamint.yaml": "datamint",
    "s3.yaml": "s3",
}


def test_every_service_has_an_example() -> None:
    assert sorted(EXAMPLES.values()) == sorted(SERVICES)
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_loads_as_a_commented_profile(name: str) -> None:
    path = CONFIGS / name
    text = path.read_text()
    assert text.startswith("# neurofetch profile for")
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 4
    profile = select_profile(GlobalOptions(config=str(path)), {})
    assert profile.service == EXAMPLES[name]
    assert profile.url.startswith("https://") or profile.extra.get("endpoint_url", "").startswith("https://")
    assert not {"password", "token", "api_key"} & set(profile.extra)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_neurofetch_config_keeps_the_example_byte_for_byte(name: str) -> None:
    from neurofetch.config_file import ConfigFile

    path = CONFIGS / name
    assert ConfigFile(path).render() == path.read_text()


@contextmanager
def emulator_for(service: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The emulator's URL and the credentials a user would have in the environment."""
    if service == "loris":
        from neurofetch.emulators.loris.app import LorisEmulator

        emulator, env = LorisEmulator(), {"NEUROFETCH_USERNAME": "demo", "NEUROFETCH_PASSWORD": "demo"}
    elif service == "allen":
        from neurofetch.emulators.allen.app import AllenEmulator

        emulator, env = AllenEmulator(), {}
    elif service == "neurovault":
        from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

        emulator, env = NeuroVaultEmulator(), {}
    else:
        from neurofetch.emulators.datamint.app import DatamintEmulator

        emulator, env = DatamintEmulator(), {"NEUROFETCH_API_KEY": "demo-key"}
    with emulator.serve() as server:
        yield emulator.base_url(server), env


@pytest.mark.parametrize("name", ["preventad.yaml", "allen.yaml", "neurovault.yaml", "datamint.yaml"])
def test_example_works_against_the_emulator(name: str, tmp_path: Path) -> None:
    with emulator_for(EXAMPLES[name]) as (url, env):
        config = tmp_path / name
        config.write_text(re.sub(r"(?m)^(    url: )\S+", lambda m: m.group(1) + url, (CONFIGS / name).read_text()))
        result = run_config("--config", str(config), "test", env=env)
    assert result.code == 0, result.stderr
    assert "connection test passed" in result.stderr


def test_s3_example_names_its_endpoint_and_aws_profile() -> None:
    profile = select_profile(GlobalOptions(config=str(CONFIGS / "s3.yaml")), {})
    assert profile.extra["endpoint_url"] == "https://s3.example.org"
    assert profile.extra["aws_profile"] == "lab" and profile.jobs == 16


def test_s3_example_lists_a_bucket_with_its_aws_profile(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example as written, its endpoint pointed at a local SeaweedFS that checks signatures, and the
    keys in the [lab] section of ~/.aws/credentials, as the example's comments tell a user to do."""
    pytest.importorskip("boto3")
    from tests.s3.helpers import make_client
    from tests.s3.servers import ServerUnavailable, start_seaweed

    try:
        server = start_seaweed()
    except ServerUnavailable as exc:
        pytest.skip(f"SeaweedFS cannot run here: {exc}")
    try:
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        make_client(server).create_bucket(Bucket="lab-archive")
        aws = isolated_home / ".aws"
        aws.mkdir()
        (aws / "credentials").write_text(
            f"[lab]\naws_access_key_id = {server.access_key}\naws_secret_access_key = {server.secret_key}\n"
        )
        config = tmp_path / "s3.yaml"
        config.write_text((CONFIGS / "s3.yaml").read_text().replace("https://s3.example.org", server.endpoint))
        listed = run_config("--config", str(config), "test", "--bucket", "lab-archive")
        (aws / "credentials").write_text("[lab]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n")
        refused = run_config("--config", str(config), "test", "--bucket", "lab-archive")
    finally:
        server.stop()
    assert listed.code == 0, listed.stderr
    assert f"listed s3://lab-archive/ at {server.endpoint}: 0 objects" in listed.stderr
    assert refused.code == 3 and "FAILED" in refused.stderr
