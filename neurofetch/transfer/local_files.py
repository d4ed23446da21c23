"""Which local files an upload sends, under which relative path and name.

A file's *source path* is its path relative to the parent of what the user named: ``upload study1 -r``
gives ``study1/sub-01/a.dcm``; ``upload study1/sub-01/a.dcm`` gives ``a.dcm``. That path is what the
service sees (never the absolute local path), the upload journal's key and the ``--shard`` unit.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from stat import S_ISREG

from neurofetch.errors import UsageError
from neurofetch.transfer.filters import FilterLedger, glob_matches

# Shown in `upload --help`; --no-default-exclusions lifts them.
DEFAULT_EXCLUDED_FILES = (
    "*.txt",
    "*.json",
    "*.xml",
    "*.docx",
    "*.doc",
    "*.pdf",
    "*.xlsx",
    "*.xls",
    "*.csv",
    "*.tsv",
    "*.log",
    "*.ini",
    "*.cfg",
    "*.conf",
    "*.yaml",
    "*.yml",
    "*.md",
    "*.rst",
    "*.html",
    "*.htm",
    "*.exe",
    "*.bat",
    "*.sh",
    "*.py",
    "*.pyc",
    "*.js",
    "*.css",
    "*.sql",
    "*.bak",
    "*.tmp",
    "*.temp",
    "*.lock",
    "*.zip",
    "DICOMDIR",
    "README*",
    "LICENSE*",
    "Thumbs.db",
    "desktop.ini",
    "~*",
    ".*",
)
DEFAULT_EXCLUDED_FOLDERS = (".*", "__pycache__", "__MACOSX", "$RECYCLE.BIN", "System Volume Information")
ALWAYS_EXCLUDED_FOLDERS = (".neurofetch",)  # a mirror's state, never data
NIFTI_SUFFIXES = (".nii", ".nii.gz")
MIMETYPES = {
    ".dcm": "application/dicom",
    ".dicom": "application/dicom",
    ".nii": "application/nifti",
    ".nii.gz": "application/nifti",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".avi": "video/x-msvideo",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".nrrd": "application/octet-stream",
}


@dataclass(frozen=True)
class FileSelection:
    recursive: bool = False
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    default_exclusions: bool = True
    ledger: FilterLedger = field(default_factory=FilterLedger, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.ledger.expect("--include", self.include)
        self.ledger.expect_excludes(self.exclude)

    def takes_file(self, name: str, path: Path, below: str = "") -> bool:
        verdict = self.takes_name(name, below)
        return _sniff_dicom(path) if verdict is None else verdict

    def takes_name(self, name: str, below: str = "") -> bool | None:
        """Whether the name (or ``below``, the path under the folder given) alone selects the file; None when
        only its content can tell."""
        included = [p for p in self.include if glob_matches(p, name, below)]
        for pattern in included:
            self.ledger.hit("--include", pattern)
        if any(glob_matches(p, name, below) for p in self.exclude):
            self.ledger.excluded += 1
            return False
        if self.include and not included:
            return False
        self.ledger.taken += 1
        if self.include:
            return True
        if not self.default_exclusions:
            return True
        if any(fnmatchcase(name, p) for p in DEFAULT_EXCLUDED_FILES):
            return False
        # Extensionless files (README, Makefile, ...) go only when they are DICOM (series often are).
        return True if "." in name else None

    def enters_folder(self, name: str) -> bool:
        if name in ALWAYS_EXCLUDED_FOLDERS:
            return False
        return not (self.default_exclusions and any(fnmatchcase(name, p) for p in DEFAULT_EXCLUDED_FOLDERS))


@dataclass
class LocalFile:
    path: Path  # on this machine; never sent
    source_path: str  # POSIX, relative: sent as source_filepath
    size: int
    mtime_ns: int
    mimetype: str
    is_dicom: bool
    sidecar: Path | None = None  # <name>.json beside a NIfTI volume: sent as its metadata


@dataclass
class Discovery:
    files: list[LocalFile] = field(default_factory=list)
    folders_not_entered: int = 0  # subfolders left out for want of -r
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (source path, why): each a failure


def find_files(paths: Iterable[Path], selection: FileSelection) -> Discovery:
    """Every file to send, sorted by source path; a path that does not exist is a usage error."""
    found = Discovery()
    seen: set[str] = set()
    for given in paths:
        if not given.exists():
            raise UsageError(f"{given}: no such file or folder")
        if given.is_file():
            _add(found, seen, given, given.name, selection, named=True)
            continue
        root_name = given.resolve().name

        def cannot_enter(exc: OSError, given: Path = given, root_name: str = root_name) -> None:
            rel = Path(exc.filename).relative_to(given) if exc.filename else Path(".")
            found.unreadable.append(
                ((Path(root_name) / rel).as_posix(), f"cannot read the folder: {exc.strerror or exc}")
            )

        for folder, dirnames, filenames in os.walk(given, onerror=cannot_enter):
            rel_folder = Path(folder).relative_to(given)
            if not selection.recursive and rel_folder != Path("."):
                continue
            entered = [d for d in sorted(dirnames) if selection.enters_folder(d)]
            if not selection.recursive:
                found.folders_not_entered += len(entered)
                entered = []
            dirnames[:] = entered
            for name in sorted(filenames):
                source = (
                    (Path(root_name) / rel_folder / name).as_posix() if root_name else (rel_folder / name).as_posix()
                )
                _add(
                    found,
                    seen,
                    Path(folder) / name,
                    source,
                    selection,
                    named=False,
                    below=(rel_folder / name).as_posix(),
                )
    _attach_sidecars(found)
    found.files.sort(key=lambda f: f.source_path)
    return found


def _add(
    found: Discovery,
    seen: set[str],
    path: Path,
    source_path: str,
    selection: FileSelection,
    *,
    named: bool,
    below: str = "",
) -> None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return  # a broken symlink or a file gone meanwhile
    except OSError as exc:
        found.unreadable.append((source_path, f"cannot read the file: {exc.strerror or exc}"))
        return
    if not S_ISREG(stat.st_mode) or (not named and selection.takes_name(path.name, below) is False):
        return
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        found.unreadable.append((source_path, f"cannot read the file: {exc.strerror or exc}"))
        return
    if not named and not selection.takes_file(path.name, path, below):
        return
    key = os.path.realpath(path)
    if key in seen:
        return
    seen.add(key)
    mimetype, is_dicom = mimetype_of(path)
    found.files.append(LocalFile(path.absolute(), source_path, stat.st_size, stat.st_mtime_ns, mimetype, is_dicom))


def _attach_sidecars(found: Discovery) -> None:
    """``x.nii.gz`` + ``x.json`` (or ``x.nii.gz.json``): the JSON is its metadata, not a file of its own."""
    by_path = {f.path: f for f in found.files}
    for item in found.files:
        stem = _nifti_stem(item.path.name)
        if stem is None:
            continue
        for candidate in (item.path.with_name(stem + ".json"), item.path.with_name(item.path.name + ".json")):
            if candidate.is_file():
                item.sidecar = candidate
                by_path.pop(candidate, None)
                break
    sidecars = {f.sidecar for f in found.files if f.sidecar is not None}
    found.files = [f for f in found.files if f.path not in sidecars]


def _nifti_stem(name: str) -> str | None:
    lower = name.lower()
    for suffix in (".nii.gz", ".nii"):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def mimetype_of(path: Path) -> tuple[str, bool]:
    """(mimetype, is_dicom): DICOM by its marker or a .dcm name, NIfTI by name, the rest by extension."""
    lower = path.name.lower()
    if _sniff_dicom(path) or lower.endswith((".dcm", ".dicom")):
        return "application/dicom", True
    for suffix, mimetype in MIMETYPES.items():
        if lower.endswith(suffix):
            return mimetype, False
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream", False


def _sniff_dicom(path: Path) -> bool:
    from neurofetch.anonymize import looks_like_dicom

    return looks_like_dicom(path)


def parse_mung(spec: str | None) -> list[int] | str | None:
    """``all`` or a comma list of folder indices (1 = the folder you named); None = the plain file name."""
    if spec is None or spec.strip() == "":
        return None
    if spec.strip().lower() == "all":
        return "all"
    try:
        indices = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        indices = []
    if not indices or any(i < 1 for i in indices):
        raise UsageError(f"--mung-filename takes 'all' or folder numbers counted from 1, e.g. 1,2 (not {spec!r})")
    return indices


def mung_name(source_path: str, mung: list[int] | str | None) -> str:
    """The filename sent. ``all`` joins every part with ``_``; indices pick folders of the source path
    (1 = the first folder, the one you named); out-of-range indices are ignored."""
    parts = source_path.split("/")
    if mung is None:
        return parts[-1]
    if isinstance(mung, str):  # "all"
        return "_".join(parts)
    folders = parts[:-1]
    chosen = [folders[i - 1] for i in mung if i <= len(folders)]
    return "_".join([*chosen, parts[-1]])
