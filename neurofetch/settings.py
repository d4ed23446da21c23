"""Profiles and run settings: defaults < config file < environment < flags. Owns yaml."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurofetch.errors import ConfigError, UsageError
from neurofetch.net.options import HttpOptions

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
PROFILE_KEYS = (
    "service",
    "url",
    "username",
    "jobs",
    "timeout",
    "verify_tls",
    "retries",
    "retry_wait_max",
    "bwlimit",
    "wait",
    "segments",
)
SERVICE_KEYS: dict[str, tuple[str, ...]] = {  # the keys of Profile.extra that a service reads
    "s3": ("endpoint_url", "aws_profile", "region"),
    "loris": ("api_version",),  # e.g. v0.0.4-dev, when the url is the LORIS host rather than its API base
}
CONFIG_KEYS = ("default_profile", "profiles")
SECRET_KEY_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key", "api-key", "credential")
MASK = "********"


def looks_secret(key: str) -> bool:
    """Whether a config key names a secret (password, aws_secret_access_key, session_token, ...)."""
    return any(word in key.lower() for word in SECRET_KEY_WORDS)


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
    bwlimit: int | None = None  # bytes per second for the whole run, up and down; None: no limit
    wait: float | None = None  # seconds to wait for another run's lock (math.inf: no limit); None: do not wait
    segments: int | None = None  # ranged requests per large file; None: automatic
    extra: Mapping[str, Any] = field(default_factory=dict)  # service-specific keys (endpoint_url, ...)

    def __repr__(self) -> str:
        from neurofetch.urls import redact_url

        shown = {k: (MASK if looks_secret(str(k)) else v) for k, v in self.extra.items()}
        return (
            f"Profile(name={self.name!r}, service={self.service!r}, url={redact_url(self.url)!r}, "
            f"username={self.username!r}, jobs={self.jobs}, timeout={self.timeout}, "
            f"verify_tls={self.verify_tls!r}, retries={self.retries}, retry_wait_max={self.retry_wait_max}, "
            f"bwlimit={self.bwlimit}, wait={self.wait}, segments={self.segments}, extra={shown!r})"
        )

    __str__ = __repr__

    @property
    def http(self) -> HttpOptions:
        """How to connect, as the plain values net/ takes."""
        return HttpOptions(
            jobs=self.jobs,
            timeout=self.timeout,
            verify_tls=self.verify_tls,
            retries=self.retries,
            retry_wait_max=self.retry_wait_max,
            bwlimit=self.bwlimit,
        )

    @property
    def keyring_service(self) -> str:
        """The keyring service name: derived from the URL so profiles for one server share secrets."""
        return f"neurofetch:{self.service}:{self.url.rstrip('/')}"


def default_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("neurofetch", appauthor=False)) / "config.yaml"


def default_state_root() -> Path:
    """Where state that belongs to no destination lives (the upload journals)."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("neurofetch", appauthor=False))


def config_path(options: GlobalOptions, env: Mapping[str, str] = os.environ) -> Path:
    explicit = options.config or env.get("NEUROFETCH_CONFIG")
    return Path(explicit).expanduser() if explicit else default_config_path()


def load_config(path: Path) -> dict[str, Any]:
    """Read the YAML config; a missing file is an empty config, a broken one a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}  # before importing yaml: runs set up by environment variables alone start 20 ms sooner
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start})") from None
    import yaml

    try:
        data = yaml.load(text, Loader=_config_loader()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
        raise ConfigError(f"config file {path} must be a mapping with a 'profiles' mapping")
    return data


def parse_yaml(text: str) -> Any:
    """The data of a YAML (or JSON) document a user hands in besides the config; None when it is not YAML."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _config_loader() -> type:
    """PyYAML's safe loader, but mapping keys stay the text written (``off:`` is the profile "off", not False)
    and only true/false are booleans, as in YAML 1.2 (what neurofetch-config writes)."""
    import re

    import yaml

    class ConfigLoader(yaml.SafeLoader):
        pass

    def string_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(None, None, "a key must be plain text", key_node.start_mark)
            mapping[key_node.value] = loader.construct_object(value_node, deep=True)
        return mapping

    ConfigLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    ConfigLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    ConfigLoader.add_constructor("tag:yaml.org,2002:map", string_keys)
    return ConfigLoader


ADHOC_NAME = "(command line)"


@dataclass(frozen=True)
class _Choice:
    """What selects the profile: a named one, or the URL and service of an ad-hoc one, and where each came from."""

    name: str | None = None
    url: str | None = None
    service: str | None = None
    url_source: str = "--url"
    service_source: str = "--service"
    explicit: bool = False


def _choose(options: GlobalOptions, env: Mapping[str, str]) -> _Choice:
    """Flags beat the environment; a named profile and an ad-hoc one given at the same level exclude each other."""
    if options.profile and (options.url or options.service):
        given = "--url" if options.url else "--service"
        raise UsageError(
            f"--profile and {given} exclude each other: a profile already says where to connect; drop one of them"
        )
    if options.profile:
        return _Choice(name=options.profile, explicit=True)
    env_url, env_service = env.get("NEUROFETCH_URL") or None, env.get("NEUROFETCH_SERVICE") or None
    if options.url or options.service:
        return _Choice(
            url=options.url or env_url,
            service=options.service or env_service,
            url_source="NEUROFETCH_URL" if env_url and not options.url else "--url",
            service_source="NEUROFETCH_SERVICE" if env_service and not options.service else "--service",
            explicit=True,
        )
    env_profile = env.get("NEUROFETCH_PROFILE") or None
    if env_profile and (env_url or env_service):
        given = "NEUROFETCH_URL" if env_url else "NEUROFETCH_SERVICE"
        raise UsageError(f"NEUROFETCH_PROFILE and {given} are both set and exclude each other; unset one of them")
    if env_profile:
        return _Choice(name=env_profile, explicit=True)
    if env_url or env_service:
        return _Choice(
            url=env_url,
            service=env_service,
            url_source="NEUROFETCH_URL",
            service_source="NEUROFETCH_SERVICE",
            explicit=True,
        )
    return _Choice()


def profile_chosen(options: GlobalOptions, env: Mapping[str, str] = os.environ) -> bool:
    """Whether flags or the environment choose the profile (rather than the config's default_profile)."""
    return _choose(options, env).explicit


def known_keys(service: object) -> tuple[str, ...]:
    """The profile keys neurofetch reads for ``service``."""
    return PROFILE_KEYS + SERVICE_KEYS.get(str(service).strip().lower(), ())


def unknown_key_warnings(config: Mapping[str, Any], path: Path) -> list[str]:
    """One line per key that nothing reads (a typo, most often), with the closest known key."""
    import difflib

    def line(key: str, where: str, known: tuple[str, ...]) -> str:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"unknown key {key!r}{where} in {path} is ignored{hint}"

    lines = [line(str(key), "", CONFIG_KEYS) for key in config if key not in CONFIG_KEYS]
    for name, raw in (config.get("profiles") or {}).items():
        if isinstance(raw, dict):
            known = known_keys(raw.get("service"))
            lines += [line(str(key), f" of profile {name!r}", known) for key in raw if key not in known]
    return lines


def select_profile(
    options: GlobalOptions,
    env: Mapping[str, str] = os.environ,
    *,
    only_service: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> Profile:
    """The one place a run's profile is chosen: ``-p``/``NEUROFETCH_PROFILE`` name one from the config file,
    ``--url``/``--service`` (or their variables) build a self-contained ad-hoc one, else ``default_profile``.

    ``only_service`` is for commands that speak one service: when nothing chooses a profile and the
    default_profile (if any) is of another service, they run on that service's only profile, else on its
    public server; with several profiles of it, the user has to choose. ``warn`` receives a line per
    config key that nothing reads.
    """
    choice = _choose(options, env)
    if choice.url or choice.service:
        return _adhoc_profile(choice, env)
    path = config_path(options, env)
    config = load_config(path)
    if warn is not None:
        for line in unknown_key_warnings(config, path):
            warn(line)
    name = choice.name or _optional_str(config.get("default_profile"))
    if (
        only_service is not None
        and not choice.name
        and _service_of(config, name) != only_service
        and (name is None or name in (config.get("profiles") or {}))
    ):
        return _profile_of_service(only_service, name, config, path, env)
    if name:
        return _named_profile(name, config, path, env)
    raise ConfigError(
        f"no profile selected: pass --profile NAME (or set default_profile in {path}), "
        "or --service KIND [--url URL] for a one-off run"
    )


def select_s3_profile(
    options: GlobalOptions, env: Mapping[str, str] = os.environ, *, warn: Callable[[str], None] | None = None
) -> Profile | None:
    """s3-sync's profile: the selected one when it is an S3 one, else None (s3-sync also runs on flags and the
    AWS chain alone, and ignores a default_profile of another service); a chosen non-S3 profile is an error."""
    profile = select_profile(options, env, only_service="s3", warn=warn)
    if profile.service == "s3":
        return profile
    if profile_chosen(options, env):
        raise UsageError(f"profile {profile.name!r} is a {profile.service} profile; s3-sync needs service: s3")
    return None


def datamint_environment(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the official Datamint client's DATAMINT_API_URL / DATAMINT_API_KEY are set: then `login` and
    `logout` choose a Datamint profile when nothing else is chosen."""
    return bool(env.get("DATAMINT_API_URL") or env.get("DATAMINT_API_KEY"))


def _service_of(config: Mapping[str, Any], name: str | None) -> str | None:
    raw = (config.get("profiles") or {}).get(name) if name else None
    service = raw.get("service") if isinstance(raw, dict) else None
    return service.strip().lower() if isinstance(service, str) else None


def _profile_of_service(
    service: str, default: str | None, config: Mapping[str, Any], path: Path, env: Mapping[str, str]
) -> Profile:
    """For a command of one service run without -p: its only profile, else its public server."""
    names = sorted(str(name) for name in config.get("profiles") or {} if _service_of(config, str(name)) == service)
    if len(names) == 1:
        return _named_profile(names[0], config, path, env)
    if not names:
        return _adhoc_profile(_Choice(service=service, service_source=service), env)
    other = f"the default profile {default!r} is not a {service} profile and " if default else ""
    public = f", or --service {service} for its public server" if _service_default_url(service, env) else ""
    raise UsageError(
        f"{other}{path} has several {service} profiles: choose one with {', '.join(f'-p {n}' for n in names)}{public}"
    )


def _named_profile(name: str, config: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> Profile:
    profiles: dict[str, Any] = config.get("profiles") or {}
    if name not in profiles:
        known = ", ".join(sorted(map(str, profiles))) or "none"
        raise ConfigError(f"no profile named {name!r} in {path} (profiles: {known})")
    if not isinstance(profiles[name], dict):
        raise ConfigError(f"profile {name!r} in {path} must be a mapping")
    raw = dict(profiles[name])
    if env.get("NEUROFETCH_USERNAME"):
        raw["username"] = env["NEUROFETCH_USERNAME"]
    return profile_from_mapping(name, raw, env)


def _adhoc_profile(choice: _Choice, env: Mapping[str, str]) -> Profile:
    """Built from scratch: nothing of the config file (URL, user, keyring entry, jobs) leaks into it."""
    service = choice.service.strip().lower() if choice.service else _service_of_public_url(choice.url or "")
    if service is None:
        raise UsageError(
            f"{_given(choice.url_source, choice.url)} needs {choice.service_source} KIND "
            f"({', '.join(SERVICES)}): only the public servers' URLs tell their service"
        )
    if service not in SERVICES:
        raise UsageError(
            f"{_given(choice.service_source, choice.service)}: unknown service; use one of: {', '.join(SERVICES)}"
        )
    raw: dict[str, Any] = {"service": service}
    if choice.url:
        raw["url"] = choice.url
    elif service != "s3" and not _service_default_url(service, env):
        raise UsageError(
            f"{_given(choice.service_source, service)} needs {choice.url_source}: {service} has no "
            "public default server"
        )
    if env.get("NEUROFETCH_USERNAME"):
        raw["username"] = env["NEUROFETCH_USERNAME"]
    return profile_from_mapping(ADHOC_NAME, raw, env)


def _given(source: str, value: str | None) -> str:
    return f"{source} {value}" if source.startswith("-") else f"{source}={value}"


def _service_of_public_url(url: str) -> str | None:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    public = {**DEFAULT_URLS, "loris": PREVENTAD_URL}
    return next((svc for svc, known in public.items() if urlsplit(known).hostname == host), None)


def profile_from_mapping(name: str, raw: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> Profile:
    service = raw.get("service")
    service = service.strip().lower() if isinstance(service, str) else service
    if service not in SERVICES:
        if service is None:
            raise ConfigError(f"profile {name!r} names no service; use one of: {', '.join(SERVICES)}")
        raise ConfigError(f"profile {name!r}: unknown service {service!r}; use one of: {', '.join(SERVICES)}")
    url = raw.get("url") or _service_default_url(service, env)
    if not url and service != "s3":
        raise ConfigError(f"profile {name!r} has no url; set url: in the config")
    if "@" in str(url or "").split("?", 1)[0]:  # also "user:pa/ss@host", which a URL parser reads as a path
        raise ConfigError(
            f"profile {name!r}: the url holds a user name or password (user:...@); give the user as "
            "username: or NEUROFETCH_USERNAME, and the password to the keyring or NEUROFETCH_PASSWORD"
        )
    if url and "://" not in str(url):
        raise ConfigError(
            f"profile {name!r}: the url {url!r} has no scheme; write https://{url} (or http:// "
            "for a server without TLS)"
        )
    known = set(PROFILE_KEYS)
    return Profile(
        name=name,
        service=service,
        url=str(url or "").rstrip("/"),
        username=_optional_str(raw.get("username")),
        jobs=_positive_int(name, "jobs", raw.get("jobs", env.get("NEUROFETCH_JOBS", DEFAULT_JOBS))),
        timeout=_positive_float(name, "timeout", raw.get("timeout", DEFAULT_TIMEOUT)),
        verify_tls=_verify_tls(name, raw.get("verify_tls", True)),
        retries=_positive_int(
            name, "retries", raw.get("retries", env.get("NEUROFETCH_RETRIES", DEFAULT_RETRIES)), minimum=0
        ),
        retry_wait_max=_positive_float(
            name,
            "retry_wait_max",
            raw.get("retry_wait_max", env.get("NEUROFETCH_RETRY_WAIT_MAX", DEFAULT_RETRY_WAIT_MAX)),
        ),
        **_transfer_settings(name, raw, env),
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
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"profile {profile!r}: {key} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"profile {profile!r}: {key} must be at least {minimum}")
    return number


def _positive_float(profile: str, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"profile {profile!r}: {key} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"profile {profile!r}: {key} must be a finite number, not {value!r}")
    if number < 0:
        raise ConfigError(f"profile {profile!r}: {key} must not be negative")
    return number


def _transfer_settings(profile: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    from neurofetch.transfer.limits import transfer_settings

    return transfer_settings(profile, raw, env)


def _verify_tls(profile: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.lower() in ("true", "yes", "on")
    if isinstance(value, str) and value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigError(f"profile {profile!r}: verify_tls CA bundle {path} does not exist")
        return str(path)
    raise ConfigError(f"profile {profile!r}: verify_tls must be true, false or a CA bundle path")
