"""Secrets never leave the keyring; TLS is verified (a private CA works); Authorization stays on its host."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import RunningServer, TLSFiles
from tests.helpers import run_cli
from tests.resilience_support import data_files, serve_loris, the_error_line

PASSWORD = "Pa55-w0rd.Sekr1t!"


def test_no_password_or_token_in_output_logs_state_or_json(tmp_path: Path, memory_keyring: Any) -> None:
    log_file = tmp_path / "run.log"
    dest = tmp_path / "d"
    with serve_loris("token_expiry_after=15", size_scale=0.005, password=PASSWORD) as loris:
        env = {"NEUROFETCH_URL": loris.url, "NEUROFETCH_SERVICE": "loris"}
        login = run_cli(
            "-v", "--log-file", log_file, "login", "-u", "demo", "--password-stdin", input=PASSWORD + "\n", env=env
        )
        assert login.code == 0, login.stderr
        mirror = run_cli("-v", "--log-file", log_file, "--json", "mirror", dest, env=env)
        assert mirror.code == 0, mirror.stderr
        # A failing run says more: a refused login, with the password in the environment.
        refused = run_cli(
            "-v",
            "--log-file",
            log_file,
            "--json",
            "login",
            env={**env, "NEUROFETCH_USERNAME": "demo", "NEUROFETCH_PASSWORD": PASSWORD + "x"},
        )
        assert refused.code == 3
        tokens = {
            e.headers["authorization"].split(" ", 1)[1]
            for e in loris.emulator.log.entries()
            if e.headers.get("authorization")
        }
    assert tokens and loris.emulator.logins >= 3  # login, then re-logins when the token ran out mid-run
    assert "debug:" in mirror.stderr and log_file.stat().st_size > 0 and mirror.json["status"] == "ok"
    places = {
        "login stdout": login.stdout,
        "login stderr": login.stderr,
        "mirror stdout": mirror.stdout,
        "mirror stderr": mirror.stderr,
        "refused stderr": refused.stderr,
        "refused stdout": refused.stdout,
        "log file": log_file.read_text(),
    }
    places.update({str(p): p.read_bytes().decode("latin-1") for p in dest.rglob("*") if p.is_file()})
    assert any(".neurofetch/state.sqlite3" in name for name in places)
    for secret in (PASSWORD, PASSWORD + "x", *tokens):
        for name, text in places.items():
            assert secret not in text, f"a secret is in {name}"


# -- TLS -------------------------------------------------------------------------------------------------


@pytest.fixture
def https_loris(tls_files: tuple[TLSFiles, Path]) -> Iterator[Any]:
    with serve_loris(size_scale=0.005, tls=tls_files[0]) as loris:
        assert loris.url.startswith("https://")
        yield loris


def profile(tmp_path: Path, url: str, verify_tls: object) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_profile: lab\nprofiles:\n  lab:\n    service: loris\n    url: {url}\n"
        f"    username: demo\n    verify_tls: {verify_tls}\n"
    )
    return config


def test_tls_is_verified_by_default_and_a_bad_certificate_is_not_retried(https_loris: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli(
        "mirror", tmp_path / "d", env=https_loris.env(NEUROFETCH_RETRIES="5", NEUROFETCH_RETRY_WAIT_MAX="10")
    )
    elapsed = time.monotonic() - started
    assert result.code == 5
    assert "TLS certificate did not verify" in result.stderr and "verify_tls" in result.stderr
    the_error_line(result.stderr)
    assert https_loris.emulator.log.entries() == []  # no request got through
    assert elapsed < 5  # five retries would have waited at least 7.75 s


def test_a_ca_bundle_in_the_profile_makes_https_work(
    https_loris: Any, tls_files: tuple[TLSFiles, Path], tmp_path: Path
) -> None:
    config = profile(tmp_path, https_loris.url, tls_files[1])
    result = run_cli("--config", config, "mirror", tmp_path / "d", env={"NEUROFETCH_PASSWORD": "demo"})
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == https_loris.dataset.expected_tree()
    assert "warning" not in result.stderr


def test_verification_off_works_but_warns_on_every_run(https_loris: Any, tmp_path: Path) -> None:
    config = profile(tmp_path, https_loris.url, "false")
    for _ in range(2):
        result = run_cli("--config", config, "--json", "mirror", tmp_path / "d", env={"NEUROFETCH_PASSWORD": "demo"})
        assert result.code == 0, result.stderr
        assert "warning: TLS certificate verification is OFF" in result.stderr
        assert result.json["status"] == "ok"  # stdout stays clean JSON
    assert data_files(tmp_path / "d") == https_loris.dataset.expected_tree()


# -- redirects -------------------------------------------------------------------------------------------


class FileHost:
    """Another origin (another loopback port) that serves the files and records what it was sent."""

    def __init__(self, dataset: Any) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        self.seen: list[dict[str, str]] = []

        async def serve(request: Request) -> Response:
            self.seen.append(dict(request.headers))
            cand, visit, name = request.path_params["path"].split("/")
            return Response(dataset.content(cand, visit, name), media_type="application/octet-stream")

        self.app = Starlette(routes=[Route("/files/{path:path}", serve)])


class RedirectingFront:
    """In front of the emulator: file downloads answer 302 to the file host, as a storage backend would."""

    def __init__(self, app: Any, target: str) -> None:
        self.app = app
        self.target = target
        self.redirected: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and "/images/" in path and not path.endswith("/qc"):
            self.redirected.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            cand, visit, _, name = path.split("/candidates/")[1].split("/")
            location = f"{self.target}/files/{cand}/{visit}/{name}".encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 302,
                    "headers": [(b"location", location), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def test_authorization_is_not_sent_to_another_host_after_a_redirect(tmp_path: Path) -> None:
    from neurofetch.emulators.loris.app import LorisDataset

    dataset = LorisDataset(candidates=1, size_scale=0.005)
    host = FileHost(dataset)
    with RunningServer(host.app) as other:
        front: list[RedirectingFront] = []

        def make_front(app: Any) -> Any:
            front.append(RedirectingFront(app, other.origin))
            return front[0]

        with serve_loris(size_scale=0.005, recorder=make_front) as loris:
            result = run_cli("mirror", tmp_path / "d", env=loris.env())
            expected = loris.dataset.expected_tree()
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == expected
    assert len(host.seen) == len(expected) == len(front[0].redirected)
    assert all(h.get("authorization", "").startswith("Bearer ") for h in front[0].redirected)
    assert not [h for h in host.seen if "authorization" in h]
