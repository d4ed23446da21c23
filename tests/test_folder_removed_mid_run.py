"""A folder of the destination removed while a mirror runs (by its user): the next file in it makes it again.

download.py makes each folder once per run, not once per file; that must not turn a removed folder into
failed files.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from neurofetch.emulators.common import RunningServer
from tests.helpers import run_cli, tree_files


def test_a_folder_removed_during_the_run_is_made_again(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "study"
    candidate, visit = sorted(loris.dataset.expected_tree())[0].split("/")[:2]
    images = f"/candidates/{candidate}/{visit}/images/"
    seen: list[str] = []

    async def remove_on_second_file(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and images in path and not path.endswith("/qc"):
            seen.append(path)
            if len(seen) == 2:  # the first file of the folder is complete: the user removes the folder
                shutil.rmtree(dest / candidate / visit)
        await loris.app(scope, receive, send)

    with RunningServer(remove_on_second_file).start() as server:
        env = {**loris_env, "NEUROFETCH_URL": server.origin + loris.base_path}
        first = run_cli("mirror", dest, "--jobs", "1", env=env)
        assert len(seen) >= 2, "the folder had fewer than two files"
        assert first.code == 0, first.stderr
        second_file = seen[1].split(images)[1]
        expected = loris.dataset.expected_tree()
        assert (dest / candidate / visit / second_file).read_bytes() == expected[f"{candidate}/{visit}/{second_file}"]

        again = run_cli("mirror", dest, env=env)  # what the user removed comes back
        assert again.code == 0, again.stderr
        assert tree_files(dest) == expected
