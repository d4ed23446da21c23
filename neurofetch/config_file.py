"""Editing the config file: profiles added, changed, removed, with the user's comments and unknown keys kept.

settings.py reads the file (PyYAML); this module writes it (ruamel.yaml round-trip, imported lazily),
always with mode 0600 and an atomic rename, and only after the result reads back as valid profiles.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from neurofetch.errors import ConfigError, UsageError
from neurofetch.settings import SERVICES, Profile, known_keys, load_config, looks_secret, profile_from_mapping

HEADER = """\
# neurofetch configuration: one profile per service you use; pick one with --profile NAME.
# Written by neurofetch-config; edit freely, comments and unknown keys are kept.
# Secrets never go here: they live in the OS keyring or in environment variables
# (NEUROFETCH_PASSWORD, NEUROFETCH_API_KEY); see docs/credentials.md.
"""
INT_KEYS = frozenset({"jobs", "retries"})
FLOAT_KEYS = frozenset({"timeout", "retry_wait_max"})
YAML11_WORDS = re.compile(
    r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~"
)
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def parse_value(key: str, text: str) -> Any:
    """A value typed on a command line (``jobs=4``, ``verify_tls=false``) as the config file holds it."""
    if key in INT_KEYS:
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{key} must be a whole number, not {text!r}") from None
    if key in FLOAT_KEYS:
        try:
            number = float(text)
        except ValueError:
            raise UsageError(f"{key} must be a number, not {text!r}") from None
        if not math.isfinite(number):
            raise UsageError(f"{key} must be a finite number, not {text!r}")
        return int(number) if number.is_integer() else number
    if key == "verify_tls" and text.lower() in ("true", "false", "yes", "no"):
        return text.lower() in ("true", "yes")
    return text


def check_url(url: str) -> str:
    """A service URL as neurofetch needs it: http(s), a host, no trailing slash."""
    from urllib.parse import urlsplit

    if not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
        raise UsageError(f"{url!r} is not a URL: it starts with http:// or https:// and names a host")
    return url.rstrip("/")


def _check_keys(service: str, values: Mapping[str, Any]) -> None:
    """Keys nothing would read are refused (with the closest known one); URLs must be URLs."""
    import difflib

    known = known_keys(service)
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UsageError(f"unknown key {key!r} for a {service} profile: {hint}known keys: {', '.join(known)}")
        if key in ("url", "endpoint_url"):
            check_url(str(value))


def check_profile_name(name: str) -> str:
    if not PROFILE_NAME.fullmatch(name):
        raise UsageError(
            f"profile name {name!r}: use letters, digits, '-', '_' or '.', starting with a letter "
            "or digit (at most 64 characters)"
        )
    return name


class ConfigFile:
    """The config file as a round-trip document. Changes stay in memory until :meth:`save`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._yaml = _round_trip_yaml()
        self._doc: Any = None
        self._prefix = ""
        self.existed = False
        self._load()

    def _load(self) -> None:
        from ruamel.yaml.comments import CommentedMap
        from ruamel.yaml.error import YAMLError

        try:
            text = self.path.read_text(encoding="utf-8")
            self.existed = True
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise ConfigError(f"cannot read config file {self.path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {self.path} is not UTF-8 text (byte {exc.start})") from None
        indent = _guess_indent(text)
        self._yaml.indent(mapping=indent, sequence=indent + 2, offset=indent)
        try:
            doc = self._yaml.load(text) if text.strip() else None
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise ConfigError(f"config file {self.path} is not valid YAML{where}; fix it by hand first") from None
        if doc is None:  # a new file, or one holding only comments: keep those, or start with ours
            doc = CommentedMap()
            doc["profiles"] = CommentedMap()
            self._prefix = text if text.strip() else HEADER
        if not isinstance(doc, dict) or not isinstance(doc.get("profiles", {}), dict):
            raise ConfigError(f"config file {self.path} must be a mapping with a 'profiles' mapping")
        if doc.get("profiles") is None:
            doc["profiles"] = CommentedMap()
        self._doc = doc

    # -- reading -------------------------------------------------------------------------------------------------
    @property
    def profile_names(self) -> list[str]:
        return [str(name) for name in self._doc["profiles"]]

    @property
    def default_profile(self) -> str | None:
        value = self._doc.get("default_profile")
        return str(value) if value else None

    def raw(self, name: str) -> dict[str, Any]:
        """The profile's keys as plain values (a copy)."""
        profiles = self._doc["profiles"]
        if name not in profiles:
            known = ", ".join(self.profile_names) or "none"
            raise UsageError(f"no profile named {name!r} in {self.path} (profiles: {known})")
        value = profiles[name]
        return {str(k): _plain(v) for k, v in (value or {}).items()} if isinstance(value, Mapping) else {}

    def profile(self, name: str, env: Mapping[str, str] | None = None) -> Profile:
        return profile_from_mapping(name, self.raw(name), {} if env is None else env)

    # -- changing ------------------------------------------------------------------------------------------------
    def set_profile(self, name: str, values: Mapping[str, Any], remove: Iterable[str] = ()) -> Profile:
        """Create or update a profile in place (its other keys and comments stay); returns it validated."""
        from ruamel.yaml.comments import CommentedMap

        check_profile_name(name)
        secret = next((k for k in values if looks_secret(k)), None)
        if secret:
            raise UsageError(
                f"{secret} is a secret and never goes into the config file: use the keyring "
                "(neurofetch-config, neurofetch login) or an environment variable"
            )
        merged = {**(self.raw(name) if name in self._doc["profiles"] else {}), **values}
        for key in remove:
            merged.pop(key, None)
        if merged.get("service") not in SERVICES:
            raise UsageError(f"profile {name!r} needs service: one of {', '.join(SERVICES)}")
        _check_keys(str(merged["service"]), values)
        profile = profile_from_mapping(name, merged, {})
        profiles = self._doc["profiles"]
        if not profiles:
            profiles.fa.set_block_style()
        node = profiles.get(name)
        if not isinstance(node, dict):
            node = CommentedMap()
            profiles[_unambiguous(name)] = node
        for key in remove:
            node.pop(key, None)
        for key, value in values.items():
            node[key] = _unambiguous(value)
        return profile

    def delete_profile(self, name: str) -> None:
        self.raw(name)  # names the known profiles when it does not exist
        del self._doc["profiles"][name]
        if self.default_profile == name:
            del self._doc["default_profile"]

    def set_default(self, name: str) -> None:
        self.raw(name)
        if "default_profile" in self._doc:
            self._doc["default_profile"] = _unambiguous(name)
        else:
            self._doc.insert(0, "default_profile", _unambiguous(name))

    # -- writing -------------------------------------------------------------------------------------------------
    def render(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self._doc, out)
        prefix = self._prefix if not self._prefix or self._prefix.endswith("\n") else self._prefix + "\n"
        return prefix + out.getvalue()

    def save(self) -> None:
        """Write atomically with mode 0600, after checking that the new text reads back as it should."""
        text = self.render()
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temp = tempfile.mkstemp(prefix=".config-", suffix=".yaml.tmp", dir=folder)
        except OSError as exc:
            raise ConfigError(f"cannot write config file {self.path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            _check_readable(Path(temp), self.path)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.existed = True


def _check_readable(temp: Path, final: Path) -> None:
    """The reader of every other command (PyYAML, settings.py) must accept what we wrote."""
    config = load_config(temp)
    for name, raw in (config.get("profiles") or {}).items():
        if isinstance(raw, dict):
            try:
                profile_from_mapping(str(name), raw, {})
            except ConfigError as exc:
                raise ConfigError(f"{final}: {exc}") from None


def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _unambiguous(value: Any) -> Any:
    """Text that a YAML 1.1 reader (PyYAML, many other tools) would take for a boolean or null, quoted:
    ruamel writes YAML 1.2, where ``off`` is plain text."""
    if isinstance(value, str) and YAML11_WORDS.fullmatch(value):
        from ruamel.yaml.scalarstring import SingleQuotedScalarString

        return SingleQuotedScalarString(value)
    return value


def _guess_indent(text: str) -> int:
    """The indentation the user's file uses (ruamel would otherwise re-indent everything to 2)."""
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if stripped and not stripped.startswith("#") and line != stripped:
            return min(max(len(line) - len(stripped), 2), 8)
    return 2


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value
