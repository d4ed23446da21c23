"""nilearn's fetch_neurovault_ids, unmodified, against the NeuroVault at argv[1] (its URL constants patched at run
time); data goes under argv[2], the collection id is argv[3]. Run by the interpreter of a virtual environment with
nilearn (tests/conformance); prints a JSON summary."""

import contextlib
import json
import sys
from pathlib import Path
from urllib.parse import urljoin

from nilearn.datasets import neurovault

base, out, collection = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
neurovault._NEUROVAULT_BASE_URL = urljoin(base, "/api/")
neurovault._NEUROVAULT_COLLECTIONS_URL = urljoin(neurovault._NEUROVAULT_BASE_URL, "collections/")
neurovault._NEUROVAULT_IMAGES_URL = urljoin(neurovault._NEUROVAULT_BASE_URL, "images/")

with contextlib.redirect_stdout(sys.stderr):  # stdout is for the summary only
    data = neurovault.fetch_neurovault_ids(collection_ids=[collection], data_dir=str(out), verbose=0)
json.dump(
    {
        "images": [str(Path(p).relative_to(out)) for p in data["images"]],
        "image_ids": [m["id"] for m in data["images_meta"]],
        "collection_ids": [m["id"] for m in data["collections_meta"]],
    },
    sys.stdout,
)
