"""No credential ever leaves its origin, whatever the service answers with a redirect (301/302/303/307/308) to
another origin (here: the same host on another port, the case http.cookiejar gets wrong).

Each service's emulator sits behind a front the test controls (the origin a profile names); the front answers
chosen requests with a redirect to a foreign server, which records every request whole and then serves it from
the emulator with the test's own credential, as a storage host behind a presigned URL would. The front also
sets a session cookie on every answer. Secrets, headers and bodies the foreign server saw are searched for the
password, the API key, the LORIS token, the cookie: none may be there.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import RunningServer
from tests.datamint_support import png_bytes
from tests.helpers import CliRun, request_body, run_cli, tree_files
from tests.resilience_support import data_files, the_error_line

PASSWORD = "Pa55-leak-Sekr1t"
API_KEY = "dm-key-Sekr1t-0042"
COOKIE = "ck-Sekr1t-7777"
CREDENTIAL_HEADERS = {b"authorization", b"apikey", b"cookie", b"proxy-authorization"}
REDIRECTS = [301, 302, 303, 307, 308]
SECRETS = [PASSWORD, API_KEY, COOKIE, "bearer "]

Chooser = Callable[[str, str], bool]


class Foreign:
    """Another origin: records each request (method, path, headers, body), then lets the emulator answer it
    with ``credential`` instead of whatever came."""

    def __init__(self, app: Any, credential: tuple[bytes, bytes] | None) -> None:
        self.app = app
        self.credential = credential
        self.seen: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await request_body(receive)
        head = b"".join(k + b": " + v + b"\n" for k, v in scope["headers"])
        self.seen.append(f"{scope['method']} {scope['path']}?".encode() + scope["query_string"] + b"\n" + head + body)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in CREDENTIAL_HEADERS]
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()  # waits for the disconnect, as a streamed answer expects
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        credential = [self.credential] if self.credential else []
        await self.app({**scope, "headers": headers + credential}, replay, send)

    def leaked(self, secrets: list[str]) -> list[str]:
        """What of ``secrets`` and of any credential header reached this server."""
        found = []
        for record in self.seen:
            lower = record.lower()
            found += [s for s in secrets if s.encode().lower() in lower]
            found += [h.decode() for h in CREDENTIAL_HEADERS if b"\n" + h + b":" in lower]
        return found


class Front:
    """The origin a profile names: the emulator, but requests ``chosen(method, path)`` picks are answered with
    ``status`` to the same path and query on ``target``; every answer sets a session cookie."""

    def __init__(self, app: Any, status: int, chosen: Chooser, target: str) -> None:
        self.app, self.status, self.chosen, self.target = app, status, chosen, target
        self.redirected = 0
        self.origin = ""
        self.cookie = (b"set-cookie", f"nf_session={COOKIE}; Path=/".encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.chosen(scope["method"], scope["path"]):
            self.redirected += 1
            query = scope["query_string"]
            location = (
                self.target.encode() + scope.get("raw_path", scope["path"].encode()) + (b"?" + query if query else b"")
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status,
                    "headers": [(b"location", location), (b"content-length", b"0"), self.cookie],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.cookie]}
            await send(message)

        await self.app(scope, receive, with_cookie)


@contextmanager
def origin_and_foreign(
    emulator: Any, status: int, chosen: Chooser, credential: tuple[bytes, bytes] | None
) -> Iterator[tuple[str, Front, Foreign]]:
    """The origin's base URL (the front), the front, and the foreign server."""
    foreign = Foreign(emulator.app, credential)
    with RunningServer(foreign) as foreign_server:
        front = Front(emulator.app, status, chosen, foreign_server.origin)
        with RunningServer(front) as origin:
            front.origin = origin.origin
            yield origin.origin + emulator.base_path, front, foreign


# -- the services ------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One command of one service, run against an origin that redirects what ``chosen`` picks."""

    service: str
    emulator: Any
    credential: tuple[bytes, bytes] | None
    chosen: Chooser
    command: Callable[[Path], list[str]]
    code: int  # the exit code wanted
    check: Callable[[Path], None] = lambda dest: None
    stdin: str | None = None


def gets(method: str, path: str) -> bool:
    return method == "GET"


def loris_case(what: str) -> Case:
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    emulator = LorisEmulator(LorisDataset(candidates=1, size_scale=0.005), users={"demo": PASSWORD})
    token = f"Bearer {emulator.issue_token('demo')}".encode()
    if what == "login":
        return Case(
            "loris",
            emulator,
            (b"authorization", token),
            lambda m, p: p.endswith("/login"),
            lambda dest: ["login", "-u", "demo", "--password-stdin"],
            5,
            stdin=PASSWORD + "\n",
        )
    expected = emulator.dataset.expected_tree()

    def check(dest: Path) -> None:
        assert data_files(dest) == expected

    return Case("loris", emulator, (b"authorization", token), gets, lambda dest: ["mirror", str(dest)], 0, check)


def datamint_case(what: str) -> Case:
    from neurofetch.emulators.datamint.app import DatamintEmulator

    emulator = DatamintEmulator(api_keys={API_KEY}, preload=4)
    credential = (b"apikey", API_KEY.encode())
    if what == "login":
        return Case(
            "datamint", emulator, credential, gets, lambda dest: ["login", "--api-key-stdin"], 0, stdin=API_KEY + "\n"
        )
    if what == "mirror":

        def check(dest: Path) -> None:
            assert sorted(tree_files(dest).values()) == sorted(
                emulator.uploaded_bytes(r.id) for r in emulator.resources(include_deleted=False)
            )

        return Case("datamint", emulator, credential, gets, lambda dest: ["mirror", str(dest)], 0, check)
    if what == "upload":
        first = itertools.count()

        def first_upload(method: str, path: str) -> bool:
            return method == "POST" and path == "/resources" and next(first) == 0

        def files(dest: Path) -> list[str]:
            dest.mkdir()
            for n in range(3):
                (dest / f"scan{n}.png").write_bytes(png_bytes((8 + n, 6)))
            return ["upload", str(dest), "--channel", "leak-test", "--jobs", "1"]

        before = len(emulator.resources())

        def uploaded_two(dest: Path) -> None:
            assert len(emulator.resources()) == before + 2  # the redirected one failed, the others went on

        return Case("datamint", emulator, credential, first_upload, files, 1, uploaded_two)
    ids = [r.id for r in emulator.resources(include_deleted=False)]
    return Case(
        "datamint", emulator, credential, lambda m, p: m == "POST" and "publish" in p, lambda dest: ["publish", *ids], 5
    )


def allen_case() -> Case:
    from neurofetch.emulators.allen.app import AllenEmulator

    emulator = AllenEmulator(page_size_cap=50)
    plates = [str(p["id"]) for p in emulator.atlas_images(1)[:2]]

    def check(dest: Path) -> None:
        assert len([k for k in tree_files(dest) if k.endswith(".jpg")]) == 2

    return Case(
        "allen",
        emulator,
        None,
        gets,
        lambda dest: ["atlas-image", *plates, "--downsample", "6", "--out", str(dest)],
        0,
        check,
    )


def neurovault_case() -> Case:
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    emulator = NeuroVaultEmulator(collections=2)
    cid = emulator.collections[0]["id"]

    def check(dest: Path) -> None:
        assert len(tree_files(dest)) == len(emulator.images(cid))

    return Case(
        "neurovault", emulator, None, gets, lambda dest: ["mirror", str(dest), "--collection", str(cid)], 0, check
    )


CASES: dict[str, Callable[[], Case]] = {
    "loris-login": lambda: loris_case("login"),
    "loris-mirror": lambda: loris_case("mirror"),
    "datamint-login": lambda: datamint_case("login"),
    "datamint-mirror": lambda: datamint_case("mirror"),
    "datamint-upload": lambda: datamint_case("upload"),
    "datamint-publish": lambda: datamint_case("publish"),
    "allen-atlas-image": allen_case,
    "neurovault-mirror": neurovault_case,
}


def profile_args(kind: str, service: str, url: str, tmp_path: Path) -> list[str]:
    """Global options for a default profile from a config file, or for an ad-hoc --url/--service one."""
    if kind == "ad-hoc":
        return ["--url", url, "--service", service]
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_profile: origin\nprofiles:\n  origin:\n    service: {service}\n    url: {url}\n    username: demo\n"
    )
    return ["--config", str(config)]


def run_case(case: Case, status: int, profile: str, tmp_path: Path) -> tuple[CliRun, Front, Foreign]:
    env = {"NEUROFETCH_USERNAME": "demo", "NEUROFETCH_PASSWORD": PASSWORD, "NEUROFETCH_API_KEY": API_KEY}
    if case.stdin is not None:
        env = {"NEUROFETCH_USERNAME": "demo"}
    with origin_and_foreign(case.emulator, status, case.chosen, case.credential) as (url, front, foreign):
        dest = tmp_path / "dest"
        result = run_cli(
            *profile_args(profile, case.service, url, tmp_path), *case.command(dest), input=case.stdin, env=env
        )
        if result.code == case.code:
            case.check(dest)
    return result, front, foreign


@pytest.mark.parametrize("profile", ["default", "ad-hoc"])
@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("name", CASES)
def test_no_credential_reaches_another_origin(name: str, status: int, profile: str, tmp_path: Path) -> None:
    case = CASES[name]()
    result, front, foreign = run_case(case, status, profile, tmp_path)
    assert front.redirected > 0
    assert foreign.leaked(SECRETS) == []
    assert result.code == case.code, result.stderr
    assert "Traceback" not in result.stderr
    if case.code == 0:
        assert foreign.seen  # the redirects were followed, without credentials


# -- each rule on its own ----------------------------------------------------------------------------------


def test_a_datamint_file_302_to_another_host_is_followed_without_the_key(tmp_path: Path) -> None:
    case = datamint_case("mirror")
    case.chosen = lambda method, path: method == "GET" and path.endswith("/file")
    result, front, foreign = run_case(case, 302, "ad-hoc", tmp_path)
    assert result.code == 0, result.stderr
    assert len(foreign.seen) == front.redirected == len(case.emulator.resources(include_deleted=False))
    assert foreign.leaked(SECRETS) == []


def test_a_datamint_upload_307_to_another_host_is_refused_and_only_that_file_fails(tmp_path: Path) -> None:
    case = datamint_case("upload")
    result, front, foreign = run_case(case, 307, "ad-hoc", tmp_path)
    assert result.code == 1, result.stderr
    assert front.redirected == 1 and foreign.seen == []  # neither the key nor the file's bytes went there
    failures = {
        line.strip().removeprefix("failed: ") for line in result.stderr.splitlines() if "another origin" in line
    }  # told while running and in the summary: the same failure
    assert len(failures) == 1
    origin, elsewhere = front_and_foreign_origins(front)
    assert origin in min(failures) and elsewhere in min(failures)


def test_a_loris_login_307_to_another_host_is_refused_with_exit_5(tmp_path: Path) -> None:
    case = loris_case("login")
    result, front, foreign = run_case(case, 307, "ad-hoc", tmp_path)
    assert result.code == 5
    assert front.redirected == 1 and foreign.seen == []  # the password was not re-posted there
    line = the_error_line(result.stderr)
    origin, elsewhere = front_and_foreign_origins(front)
    assert f"{origin} redirected POST /api/v0.0.3-dev/login to another origin, {elsewhere}:" in line


def test_a_401_from_where_a_redirect_led_does_not_log_in_again(tmp_path: Path) -> None:
    case = loris_case("mirror")
    case.credential = None  # the other host refuses: it never gets a token
    case.chosen = lambda method, path: "/images/" in path and not path.endswith("/qc")
    result, _, foreign = run_case(case, 302, "ad-hoc", tmp_path)
    assert result.code == 3, result.stderr
    assert foreign.seen and foreign.leaked(SECRETS) == []
    logins = [e for e in case.emulator.log.entries() if e.method == "POST" and e.path.endswith("/login")]
    assert len(logins) == 1


def front_and_foreign_origins(front: Front) -> tuple[str, str]:
    """The origin the profile named and the one it redirected to, as error lines write them."""
    return front.origin, front.target


# -- S3 ------------------------------------------------------------------------------------------------------

SESSION_TOKEN = "SessTok-Sekr1t-9999"


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    from tests.s3.servers import ServerUnavailable, start_moto

    try:
        server = start_moto()
    except ServerUnavailable as exc:
        pytest.skip(f"S3 server cannot run here: {exc}")
    try:
        yield server
    finally:
        server.stop()


def forwarding_to(upstream: str) -> Callable[..., Any]:
    """An ASGI app that passes each request on to ``upstream`` as it came (moto checks no signature)."""
    import asyncio
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(upstream)

    def forward(method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
        try:
            connection.request(method, target, body=body, headers={**headers, "host": where.netloc})
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await request_body(receive)
        target = scope["raw_path"].decode() + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k not in (b"host", b"transfer-encoding")}
        status, answer_headers, content = await asyncio.to_thread(forward, scope["method"], target, headers, body)
        kept = [
            (k.lower().encode(), v.encode())
            for k, v in answer_headers
            if k.lower() not in ("transfer-encoding", "content-length", "connection")
        ]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*kept, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})

    return app


def is_object_transfer(method: str, path: str) -> bool:
    return method in ("GET", "PUT") and path.count("/") >= 2 and not path.endswith("/")


@pytest.mark.parametrize("profile", ["default", "ad-hoc"])
@pytest.mark.parametrize("backend", ["auto", "boto3"])
@pytest.mark.parametrize("direction", ["upload", "download"])
@pytest.mark.parametrize("status", [302, 307])
def test_s3_sync_sends_no_signature_to_another_origin(
    moto: Any, status: int, direction: str, backend: str, profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Object GETs and PUTs are redirected: boto3 follows no redirect; obstore (reqwest) would follow a GET's
    without the Authorization header but with the session token, so session credentials download through boto3."""
    import uuid

    from tests.s3.helpers import make_client

    for name, value in {
        "AWS_ACCESS_KEY_ID": moto.access_key,
        "AWS_SECRET_ACCESS_KEY": moto.secret_key,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_EC2_METADATA_DISABLED": "true",
        "NEUROFETCH_S3_BACKEND": backend,
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"nf-{uuid.uuid4().hex[:12]}"
    client = make_client(moto)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="data/there.bin", Body=b"x" * 100)
    local = tmp_path / "local"
    local.mkdir()
    (local / "here.bin").write_bytes(b"y" * 100)
    upstream = forwarding_to(moto.endpoint)
    foreign = Foreign(upstream, None)
    with RunningServer(foreign) as foreign_server:
        front = Front(upstream, status, is_object_transfer, foreign_server.origin)
        with RunningServer(front) as origin:
            remote = f"s3://{bucket}/data"
            src, dst = (local, remote) if direction == "upload" else (remote, tmp_path / "copy")
            result = run_cli(*profile_args(profile, "s3", origin.origin, tmp_path), "s3-sync", src, dst)
    assert front.redirected > 0 and "Traceback" not in result.stderr
    assert result.code in (1, 5), result.stderr  # the redirected objects failed, visibly
    assert foreign.leaked([moto.secret_key, "AWS4-HMAC-SHA256", "Signature="]) == []
    # With session credentials, downloads go through botocore, which follows no redirect: obstore (reqwest)
    # would follow the GET with the x-amz-security-token still attached.
    assert foreign.leaked([SESSION_TOKEN]) == []
