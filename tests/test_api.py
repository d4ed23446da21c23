"""`neurofetch.api` from Python: each function in a plain call, inside `asyncio.run(main())` and from a thread
whose event loop runs (as in Jupyter), typed errors, secrets passed as arguments, and interrupts."""

from __future__ import annotations

import _thread
import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neurofetch import api
from neurofetch.errors import AuthError, Interrupted, NeurofetchError, UsageError
from tests.datamint_support import KEY, datamint_server, nifti_bytes
from tests.resilience_support import assert_nothing_partial_taken_for_complete, data_files, serve_loris

MODES = ["plain", "asyncio.run", "loop-thread"]


def call_in(mode: str, call: Callable[[], Any]) -> Any:
    """``call()`` as a script, an ``async def`` caller or a notebook cell (a loop running in another thread) would."""
    if mode == "plain":
        return call()

    async def main() -> Any:
        asyncio.get_running_loop()  # a loop runs here, as in a notebook cell
        return call()

    if mode == "asyncio.run":
        return asyncio.run(main())
    box: dict[str, Any] = {}

    def thread() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join(120)
    assert not worker.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture
def datamint() -> Iterator[Any]:
    with datamint_server(preload=3) as emulator:
        yield emulator


@pytest.fixture
def allen() -> Iterator[Any]:
    from neurofetch.emulators.allen.app import AllenEmulator

    emulator = AllenEmulator(page_size_cap=50)
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


@pytest.fixture
def neurovault() -> Iterator[Any]:
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    emulator = NeuroVaultEmulator()
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


@pytest.mark.parametrize("mode", MODES)
def test_mirror_loris_in_every_kind_of_caller_and_again_resumes(loris: Any, tmp_path: Path, mode: str) -> None:
    dest = tmp_path / "study"
    result = call_in(
        mode, lambda: api.mirror(dest, url=loris.url, service="loris", username="demo", password="demo", progress=False)
    )
    expected = loris.dataset.expected_tree()
    assert result.exit_code == 0 and result.counts["downloaded"] == len(expected)
    assert data_files(dest) == expected
    again = call_in(
        mode, lambda: api.mirror(dest, url=loris.url, service="loris", username="demo", password="demo", progress=False)
    )
    assert again.counts.get("downloaded", 0) == 0 and again.counts["skipped"] == len(expected)


@pytest.mark.parametrize("mode", MODES)
def test_mirror_neurovault_and_datamint_choose_their_service(
    neurovault: Any, datamint: Any, tmp_path: Path, mode: str
) -> None:
    cid = neurovault.collections[0]["id"]
    nv = call_in(
        mode,
        lambda: api.mirror(
            tmp_path / "nv", url=neurovault.url, service="neurovault", collection=[str(cid)], progress=False
        ),
    )
    assert nv.exit_code == 0 and nv.counts["downloaded"] == len(neurovault.images(cid))
    dm = call_in(
        mode, lambda: api.mirror(tmp_path / "dm", url=datamint.url, service="datamint", api_key=KEY, progress=False)
    )
    assert dm.exit_code == 0 and dm.counts["downloaded"] > 0


@pytest.mark.parametrize("mode", MODES)
def test_atlas_image_ls_index_and_check_profile(allen: Any, loris: Any, tmp_path: Path, mode: str) -> None:
    from neurofetch.services.allen import AtlasImageRequest, ImageParams

    request = AtlasImageRequest((), (2,), (), ImageParams(downsample=6))
    out = tmp_path / "allen"
    result = call_in(mode, lambda: api.atlas_image(out, request, url=allen.url, progress=False))
    assert result.exit_code == 0 and result.counts["downloaded"] >= 1
    first = str(loris.dataset.candidates[0].cand_id)
    rows = call_in(
        mode, lambda: list(api.ls(url=loris.url, service="loris", username="demo", password="demo", candidate=[first]))
    )
    assert rows and {row["candid"] for row in rows} == {first}
    table = call_in(mode, lambda: api.index(out))
    assert len(table) == result.counts["downloaded"] and all(row.service == "allen" for row in table)
    outcome = call_in(mode, lambda: api.check_profile(url=loris.url, service="loris", username="demo", secret="demo"))
    assert outcome.ok is True, outcome.message


@pytest.mark.parametrize("mode", MODES)
def test_upload_and_publish(datamint: Any, tmp_path: Path, mode: str) -> None:
    scan = tmp_path / "brain.nii.gz"
    scan.write_bytes(nifti_bytes())
    uploaded = call_in(
        mode,
        lambda: api.upload(
            [scan], url=datamint.url, api_key=KEY, channel="api", state_root=tmp_path / "state", progress=False
        ),
    )
    assert uploaded.exit_code == 0 and uploaded.counts["uploaded"] == 1
    (resource,) = uploaded.extra["resources"].values()
    published = call_in(mode, lambda: api.publish([resource], url=datamint.url, api_key=KEY))
    assert published.exit_code == 0 and published.counts["published"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_login_and_logout_keep_a_secret_only_when_asked(loris: Any, memory_keyring: Any, mode: str) -> None:
    checked = call_in(mode, lambda: api.login(url=loris.url, service="loris", username="demo", password="demo"))
    assert checked.username == "demo" and checked.stored is False
    assert memory_keyring.store == {}  # passed as an argument: used, never kept
    kept = call_in(
        mode, lambda: api.login(url=loris.url, service="loris", username="demo", password="demo", store=True)
    )
    assert kept.stored is True and "demo" in memory_keyring.store.values()
    gone = call_in(mode, lambda: api.logout(url=loris.url, service="loris", username="demo"))
    assert set(gone.removed) == {"password", "token", "default user"} and memory_keyring.store == {}


def test_secrets_passed_to_a_mirror_or_a_check_are_never_stored(
    loris: Any, datamint: Any, memory_keyring: Any, tmp_path: Path
) -> None:
    api.mirror(tmp_path / "a", url=loris.url, service="loris", username="demo", password="demo", progress=False)
    api.mirror(tmp_path / "b", url=datamint.url, service="datamint", api_key=KEY, progress=False)
    assert api.check_profile(url=datamint.url, service="datamint", secret=KEY).ok is True
    assert memory_keyring.store == {}


@pytest.mark.parametrize("mode", MODES)
def test_errors_are_typed_exceptions_never_system_exit(loris: Any, tmp_path: Path, mode: str) -> None:
    with pytest.raises(AuthError):
        call_in(
            mode,
            lambda: api.mirror(
                tmp_path / "x", url=loris.url, service="loris", username="demo", password="wrong", progress=False
            ),
        )
    with pytest.raises(UsageError):
        call_in(mode, lambda: api.mirror(tmp_path / "x", url=loris.url, service="loris", shard="3/2"))
    with pytest.raises(UsageError):
        call_in(mode, lambda: api.mirror(tmp_path / "x", url="https://api.brain-map.org", service="allen"))
    with pytest.raises(NeurofetchError):  # nothing listens there
        call_in(
            mode,
            lambda: api.mirror(
                tmp_path / "y", url="http://127.0.0.1:9/api", service="neurovault", collection=["1"], progress=False
            ),
        )
    assert not (tmp_path / "x").exists()


class InterruptAfter:
    """A reporter that interrupts the main thread (as Ctrl-C or a kernel interrupt does) after ``files`` files."""

    def __init__(self, files: int) -> None:
        self.files = files
        self.done = 0
        self.sent = False

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        self.done += 1
        if self.done >= self.files and not self.sent:
            self.sent = True
            _thread.interrupt_main()


@pytest.mark.parametrize("mode", ["plain", "asyncio.run"])
def test_an_interrupt_stops_the_run_and_the_next_call_resumes_without_refetching(tmp_path: Path, mode: str) -> None:
    dest = tmp_path / "d"
    with serve_loris("drip=400000", size_scale=0.01) as loris:
        expected = loris.emulator.dataset.expected_tree()
        with pytest.raises(Interrupted) as stopped:
            call_in(
                mode,
                lambda: api.mirror(
                    dest,
                    url=loris.url,
                    service="loris",
                    username="demo",
                    password="demo",
                    jobs=2,
                    reporter=InterruptAfter(2),
                ),
            )
        first = stopped.value.result
        assert first is not None and first.interrupted  # type: ignore[attr-defined]
        done_before = set(data_files(dest))
        assert done_before and done_before != set(expected)
        assert_nothing_partial_taken_for_complete(dest, expected)

        loris.emulator.faults.drip = 0
        loris.emulator.log.clear()
        again = call_in(
            mode,
            lambda: api.mirror(dest, url=loris.url, service="loris", username="demo", password="demo", progress=False),
        )
        assert again.exit_code == 0 and data_files(dest) == expected
        refetched = {e.path.rsplit("/", 1)[1] for e in loris.file_gets()}
        assert not refetched & {p.rsplit("/", 1)[1] for p in done_before}


def test_an_interrupt_while_logging_in_under_a_running_loop_stops_before_any_transfer(tmp_path: Path) -> None:
    """Before the transfer has started (a slow login), the interrupt still reaches the run's own thread: it
    lands when the login's answer arrives, and nothing more is asked or written."""
    arrived = threading.Event()

    def front(app: Any) -> Any:
        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                arrived.set()
            await app(scope, receive, send)

        return asgi

    dest = tmp_path / "d"
    with serve_loris("latency=5", recorder=front) as loris:
        threading.Thread(target=lambda: arrived.wait(60) and _thread.interrupt_main(), daemon=True).start()
        with pytest.raises(Interrupted):
            call_in(
                "asyncio.run",
                lambda: api.mirror(
                    dest, url=loris.url, service="loris", username="demo", password="demo", progress=False
                ),
            )
        assert [e.path for e in loris.emulator.log.entries()] == ["/api/v0.0.3-dev/login"]
    assert not dest.exists()


def test_progress_goes_to_stderr_and_nothing_is_printed_without_it(
    loris: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUROFETCH_PROGRESS_INTERVAL", "0.1")
    api.mirror(tmp_path / "q", url=loris.url, service="loris", username="demo", password="demo", progress=False)
    quiet = capfd.readouterr()
    assert quiet.out == "" and quiet.err == ""
    api.mirror(tmp_path / "p", url=loris.url, service="loris", username="demo", password="demo")
    shown = capfd.readouterr()
    assert shown.out == "" and "progress:" in shown.err and "demo" not in shown.err


def test_the_config_wizard_is_handed_what_it_calls() -> None:
    """ui/ draws and asks; the checks and the keyring are handed to it (neurofetch-config builds them)."""
    import ast

    import neurofetch.ui

    higher = ("neurofetch.api", "neurofetch.credentials", "neurofetch.operations")
    for path in Path(neurofetch.ui.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(higher), f"{path.name} imports {node.module}"
