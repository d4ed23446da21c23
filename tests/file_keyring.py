"""A keyring backend kept in a JSON file, for tests that run neurofetch in a child process
(a pseudo-terminal for the wizard): set PYTHON_KEYRING_BACKEND=tests.file_keyring.FileKeyring and
NEUROFETCH_TEST_KEYRING_FILE. The real Secret Service is tested in tests/real_keyring."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def path(self) -> Path:
        return Path(os.environ["NEUROFETCH_TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\t{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\t{username}"] = password
        self.path.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\t{username}", None) is None:
            raise PasswordDeleteError("not found")
        self.path.write_text(json.dumps(data))

    def entries(self) -> dict[str, str]:
        return self._load()
