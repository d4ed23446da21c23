"""A BagIt bag of a mirror that leaves the mirror as it is: BAGDIR/data/ holds hard links to DEST's files
(copies where a hard link is impossible), manifest-sha256.txt takes the journal's hashes, and the bagit
library writes bag-info.txt and the tag manifest and checks the bag is complete. Owns bagit."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurofetch.errors import UsageError
from neurofetch.transfer.paths import local_path
from neurofetch.transfer.sink import sha256_file

BAGIT_EXTRA = "pip install 'neurofetch[bagit]'"
BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"


@dataclass(frozen=True)
class BagFile:
    relpath: str
    size: int
    sha256: str | None  # None: not in the journal (a JSON record), hashed while bagging


@dataclass(frozen=True)
class BagOutcome:
    path: Path
    files: int
    bytes: int
    copied: int  # files copied because a hard link was impossible (another file system)


def make_bag(dest: Path, files: Sequence[BagFile], bagdir: Path, info: dict[str, str]) -> BagOutcome:
    """Write the bag at ``bagdir`` (a new or empty folder outside DEST) and validate it."""
    bagit = _bagit()
    _check_place(dest, bagdir)
    data = bagdir / "data"
    copied = 0
    manifest: list[tuple[str, str]] = []
    total = 0
    try:
        data.mkdir(parents=True, exist_ok=True)
        for item in files:
            source = local_path(dest, item.relpath)
            target = local_path(data, item.relpath)
            target.parent.mkdir(parents=True, exist_ok=True)
            copied += _link_or_copy(source, target)
            manifest.append((item.sha256 or sha256_file(source), item.relpath))
            total += item.size
        (bagdir / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
        _write_manifest(bagdir / "manifest-sha256.txt", manifest)
        bag = bagit.Bag(str(bagdir))
        bag.info.update(info)
        bag.info["Bagging-Date"] = time.strftime("%Y-%m-%d")
        bag.info["Payload-Oxum"] = f"{total}.{len(manifest)}"
        with _cwd_kept():  # Bag.save changes the working directory while it writes
            bag.save(manifests=False)
        bagit.Bag(str(bagdir)).validate(completeness_only=True)
    except OSError as exc:
        raise UsageError(f"cannot write the bag {bagdir}: {exc.strerror or exc}") from None
    except bagit.BagError as exc:
        raise UsageError(f"the bag {bagdir} is not valid: {exc}") from None
    return BagOutcome(bagdir, len(manifest), total, copied)


def _bagit() -> Any:
    try:
        import bagit  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError(f"--bagit needs the bagit library: {BAGIT_EXTRA}") from None
    return bagit


def _check_place(dest: Path, bagdir: Path) -> None:
    resolved_dest, resolved_bag = dest.resolve(), bagdir.resolve()
    if resolved_bag == resolved_dest or resolved_dest in resolved_bag.parents or resolved_bag in resolved_dest.parents:
        raise UsageError(f"--bagit {bagdir}: the bag must be a folder outside {dest} (and not around it)")
    if bagdir.exists() and (not bagdir.is_dir() or any(bagdir.iterdir())):
        raise UsageError(f"--bagit {bagdir}: already exists and is not an empty folder")


def _link_or_copy(source: Path, target: Path) -> int:
    """1 when the file had to be copied."""
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
        return 0
    except OSError:
        shutil.copy2(source, target)
        return 1


def _write_manifest(path: Path, lines: Iterable[tuple[str, str]]) -> None:
    # BagIt escapes line breaks in names as %0A/%0D (what the bagit library reads back).
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for digest, relpath in lines:
            name = relpath.replace("\r", "%0D").replace("\n", "%0A")
            handle.write(f"{digest}  data/{name}\n")


@contextlib.contextmanager
def _cwd_kept() -> Any:
    before = os.getcwd()
    try:
        yield
    finally:
        os.chdir(before)
