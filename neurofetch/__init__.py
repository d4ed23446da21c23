"""neurofetch: fast, resumable, verified bulk transfers for neuroimaging data services."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # importlib.metadata costs tens of milliseconds: read the version only when someone asks for it.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("neurofetch")  # one source: pyproject.toml, through the installed metadata
    except PackageNotFoundError:  # a source checkout used without installing it
        found = "0+unknown"
    globals()["__version__"] = found
    return found
