"""Datamint credentials: the API key comes from NEUROFETCH_API_KEY, then DATAMINT_API_KEY (the official
client's variable), then the keyring (`neurofetch login`), then a prompt on a terminal."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from neurofetch.credentials import (
    API_KEY_ENTRY,
    Secret,
    is_interactive,
    keyring_delete,
    keyring_set,
    prompt_secret,
    read_secret_stdin,
    secret_from_env,
    stored_secret,
)
from neurofetch.errors import AuthError
from neurofetch.ui.logs import register_secret

if TYPE_CHECKING:
    from neurofetch.settings import Profile

FALLBACK_KEY_ENV = "DATAMINT_API_KEY"


def api_key_from_env() -> Secret | None:
    return secret_from_env("api_key", os.environ, FALLBACK_KEY_ENV)


def api_key_for(profile: Profile, *, no_input: bool) -> Secret:
    """The key for a run: environment, then keyring, then a prompt (terminal only)."""
    key = api_key_from_env() or stored_secret(profile.keyring_service, API_KEY_ENTRY)
    if key is None and is_interactive(no_input):
        key = prompt_secret("Datamint API key")
    if key is None:
        raise AuthError(
            "no Datamint API key: run `neurofetch login`, or set NEUROFETCH_API_KEY "
            "(or DATAMINT_API_KEY) for unattended runs"
        )
    register_secret(key.value)
    return key


def key_for_login(api_key_stdin: bool, *, no_input: bool) -> Secret:
    key: Secret | None
    if api_key_stdin:
        key = read_secret_stdin("api_key")
    else:
        key = api_key_from_env()
        if key is None and is_interactive(no_input):
            key = prompt_secret("Datamint API key")
        if key is None:
            raise AuthError(
                "no API key: this is not a terminal, so pipe it with --api-key-stdin or set NEUROFETCH_API_KEY"
            )
    register_secret(key.value)
    return key


def keep_api_key(profile: Profile, key: Secret) -> None:
    keyring_set(profile.keyring_service, API_KEY_ENTRY, key.value)


def forget_api_key(profile: Profile) -> list[str]:
    return ["API key"] if keyring_delete(profile.keyring_service, API_KEY_ENTRY) else []
