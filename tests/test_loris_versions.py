"""Every LORIS API version: the client finds the version (URL, profile key api_version, or the server) and
depends on no version's quirks (ETags, content types, error shapes, the status of a file missing on disk)."""

from __future__ import annotations

from pathlib import Path

from neurofetch.emulators.common import Faults
from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator
from tests.conftest import every_loris_version
from tests.helpers import run_cli, tree_files


def host_of(loris: object) -> str:
    return loris.url.removesuffix(loris.base_path)  # type: ignore[attr-defined]


def probes(loris: object) -> list[str]:
    return [e.path for e in loris.log.entries() if e.path.endswith("/projects")]  # type: ignore[attr-defined]


def write_config(tmp_path: Path, url: str, **keys: str) -> dict[str, str]:
    lines = [
        "default_profile: lab",
        "profiles:",
        "  lab:",
        "    service: loris",
        f"    url: {url}",
        "    username: demo",
        *(f"    {key}: {value}" for key, value in keys.items()),
    ]
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    return {"NEUROFETCH_CONFIG": str(config), "NEUROFETCH_PASSWORD": "demo"}


@every_loris_version
def test_a_url_without_the_version_is_completed_by_asking_the_server(loris, loris_env, tmp_path: Path) -> None:
    for url in (host_of(loris), host_of(loris) + "/api/"):
        loris.log.clear()
        dest = tmp_path / url.rstrip("/").rsplit("/", 1)[-1]
        result = run_cli(
            "mirror", dest, "--candidate", loris.dataset.candidates[0].cand_id, env={**loris_env, "NEUROFETCH_URL": url}
        )
        assert result.code == 0, result.stderr
        assert tree_files(dest) and all(
            path.startswith(loris.dataset.candidates[0].cand_id) for path in tree_files(dest)
        )
        assert probes(loris)[-1] == loris.base_path + "/projects"  # newest first, stopping at the one served
        asked = [e.path for e in loris.log.entries() if not e.path.endswith("/projects")]
        assert asked and all(path.startswith(loris.base_path + "/") for path in asked)


@every_loris_version
def test_the_profile_key_api_version_names_it_without_a_probe(loris, tmp_path: Path) -> None:
    env = write_config(tmp_path, host_of(loris), api_version=loris.version.name)
    result = run_cli("mirror", tmp_path / "d", "--candidate", loris.dataset.candidates[0].cand_id, env=env)
    assert result.code == 0, result.stderr
    assert probes(loris) == [] and tree_files(tmp_path / "d")
    assert run_cli("login", "--password-stdin", input="demo\n", env=env).code == 0


def test_a_version_in_the_url_and_another_in_the_profile_is_a_usage_error(loris, tmp_path: Path) -> None:
    env = write_config(tmp_path, loris.url, api_version="v0.0.4-dev")
    result = run_cli("mirror", tmp_path / "d", env=env)
    assert result.code == 2
    assert "the url ends with API version v0.0.3-dev but api_version says v0.0.4-dev" in result.stderr
    bad = run_cli("mirror", tmp_path / "d", env=write_config(tmp_path, host_of(loris), api_version="latest"))
    assert bad.code == 2 and "api_version must look like v0.0.4-dev, not 'latest'" in bad.stderr
    assert not (tmp_path / "d").exists()


def test_a_server_without_any_known_version_is_unreachable_in_one_line(loris, loris_env, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "d", env={**loris_env, "NEUROFETCH_URL": host_of(loris) + "/elsewhere"})
    assert result.code == 5
    assert result.stderr.count("\n") == 1 and "no LORIS API answers under" in result.stderr
    assert "set the profile's api_version" in result.stderr


@every_loris_version
def test_no_request_leans_on_etags(loris, loris_env, tmp_path: Path) -> None:
    assert run_cli("mirror", tmp_path / "d", env=loris_env).code == 0
    assert run_cli("mirror", tmp_path / "d", env=loris_env).code == 0
    assert not any("if-none-match" in e.headers for e in loris.log.entries())


@every_loris_version
def test_a_file_missing_on_the_server_fails_alone_whatever_the_version_answers(
    loris_api_version: str, tmp_path: Path
) -> None:
    emulator = LorisEmulator(
        LorisDataset(candidates=2), faults=Faults(missing_files=1), api_version=loris_api_version
    )  # legacy: 500 and no body; 22+: 404 JSON
    with emulator.serve() as server:
        env = {
            "NEUROFETCH_URL": emulator.base_url(server),
            "NEUROFETCH_SERVICE": "loris",
            "NEUROFETCH_USERNAME": "demo",
            "NEUROFETCH_PASSWORD": "demo",
        }
        result = run_cli("--json", "mirror", tmp_path / "d", env=env)
    assert result.code == 1, result.stderr
    [failure] = result.json["failures"]
    missing = emulator.dataset.files[0]
    assert failure["item"] == missing.path
    expected = {path: data for path, data in emulator.dataset.expected_tree().items() if path != missing.path}
    assert tree_files(tmp_path / "d") == expected
