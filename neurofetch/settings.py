"""Profiles and run settings: defaults < config file < environment < flags. Owns yaml."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurofetch.errors import ConfigError

SERVICES = ("loris", "neurovault", "allen", "datamint", "s3")
DEFAULT_URLS = {
    "neurovault": "https://neurovault.org",
    "allen": "https://api.brain-map.org",
    "datamint": "https://api.datamint.io",
}
PREVENTAD_URL = "https://openpreventad.loris.ca/api/v0.0.3-dev"
DEFAULT_JOBS = 4
DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRIES = 5
DEFAULT_RETRY_WAIT_MAX = 60.0


@dataclass(frozen=True)
class GlobalOptions:
    """What the global flags said; ``None`` means "not given on the command line"."""

    config: str | None = None
    profile: str | None = None
    url: str | None = None
    service: str | None = None
    json: bool = False
    quiet: bool = False
    verbose: bool = False
    no_input: bool = False
    log_file: str | None = None
    no_color: bool = False


@dataclass(frozen=True)
class Profile:
    """One resolved service profile: where to connect and how."""

    name: str
    service: str
    url: str
    username: str | None = None
    jobs: int = DEFAULT_JOBS
    timeout: float = DEFAULT_TIMEOUT
    verify_tls: bool | str = True
    retries: int = DEFAULT_RETRIES
    retry_wait_max: float = DEFAULT_RETRY_WAIT_MAX
    extra: Mapping[str, Any] = field(default_factory=dict)   # service-specific keys (endpoint_url, ...)

    @property
    def keyring_service(self) -> str:
        """The keyring service name: derived from the URL so profiles for one server share secrets."""
        return f"neurofetch:{self.service}:{self.url.rstrip('/')}"


def default_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("neurofetch", appauthor=False)) / "config.yaml"


def config_path(options: GlobalOptions, env: Mapping[str, str] = os.environ) -> Path:
    explicit = options.config or env.get("NEUROFETCH_CONFIG")
    return Path(explicit).expanduser() if explicit else default_config_path()


def load_config(path: Path) -> dict[str, Any]:
    """Read the YAML config; a missing file is an empty config, a broken one a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}   # before importing yaml: runs set up by environment variables alone start 20 ms sooner
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
        raise ConfigError(f"config file {path} must be a mapping with a 'profiles' mapping")
    return data


def resolve_profile(options: GlobalOptions, env: Mapping[str, str] = os.environ) -> Profile:
    """Build the profile this run uses from the config file, the environment and the flags."""
    path = config_path(options, env)
    config = load_config(path)
    profiles: dict[str, Any] = config.get("profiles") or {}
    name = options.profile or env.get("NEUROFETCH_PROFILE") or config.get("default_profile")
    url = options.url or env.get("NEUROFETCH_URL")
    service = options.service or env.get("NEUROFETCH_SERVICE")

    raw: dict[str, Any] = {}
    if name:
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(f"no profile named {name!r} in {path} (profiles: {known})")
        raw = dict(profiles[name] or {})
        if not isinstance(profiles[name], dict):
            raise ConfigError(f"profile {name!r} in {path} must be a mapping")
    elif not url and not service:
        raise ConfigError(
            f"no profile selected: pass --profile NAME (or set default_profile in {path}), "
            "or --url URL --service KIND for a one-off run"
        )
    if url:
        raw["url"] = url
    if service:
        raw["service"] = service
    if env.get("NEUROFETCH_USERNAME"):
        raw["username"] = env["NEUROFETCH_USERNAME"]
    return profile_from_mapping(name or "(command line)", raw, env)


def profile_from_mapping(name: str, raw: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> Profile:
    service = raw.get("service")
    if service not in SERVICES:
        if service is None:
            raise ConfigError(f"profile {name!r} names no service; use one of: {', '.join(SERVICES)}")
        raise ConfigError(f"profile {name!r}: unknown service {service!r}; use one of: {', '.join(SERVICES)}")
    url = raw.get("url") or _service_default_url(service, env)
    if not url and service != "s3":
        raise ConfigError(f"profile {name!r} has no url; set url: in the config or pass --url")
    known = {"service", "url", "username", "jobs", "timeout", "verify_tls", "retries", "retry_wait_max"}
    return Profile(
        name=name,
        service=service,
        url=str(url or "").rstrip("/"),
        username=_optional_str(raw.get("username")),
        jobs=_positive_int(name, "jobs", raw.get("jobs", env.get("NEUROFETCH_JOBS", DEFAULT_JOBS))),
        timeout=_positive_float(name, "timeout", raw.get("timeout", DEFAULT_TIMEOUT)),
        verify_tls=_verify_tls(name, raw.get("verify_tls", True)),
        retries=_positive_int(name, "retries", raw.get("retries", env.get("NEUROFETCH_RETRIES", DEFAULT_RETRIES)),
                              minimum=0),
        retry_wait_max=_positive_float(name, "retry_wait_max",
                                       raw.get("retry_wait_max", env.get("NEUROFETCH_RETRY_WAIT_MAX",
                                                                         DEFAULT_RETRY_WAIT_MAX))),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _service_default_url(service: str, env: Mapping[str, str]) -> str | None:
    if service == "datamint" and env.get("DATAMINT_API_URL"):
        return env["DATAMINT_API_URL"]
    return DEFAULT_URLS.get(service)


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _positive_int(profile: str, key: str, value: Any, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"profile {profile!r}: {key} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"profile {profile!r}: {key} must be at least {minimum}")
    return number


def _positive_float(profile: str, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"profile {profile!r}: {key} must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"profile {profile!r}: {key} must not be negative")
    return number


def _verify_tls(profile: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    if isinstance(value, str) and value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigError(f"profile {profile!r}: verify_tls CA bundle {path} does not exist")
        return str(path)
    raise ConfigError(f"profile {profile!r}: verify_tls must be true, false or a CA bundle path")
