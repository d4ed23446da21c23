"""Baseline: the PREVENT-AD download script users run today (LAMID_PREVENT-AD.py, MINC mode; reference/loris.md §6).

What it does, one request at a time, in the same order as that script:
POST /login; GET /candidates/; for each candidate: write candidate.json (the list entry, as ``str(dict)``),
GET /candidates/{C}; for each visit: GET /candidates/{C}/{V} (writes session.json as ``str(dict)``),
GET …/images; for each file: GET the file with ``If-None-Match`` from ``.<file>.etag``, the whole body
read into memory and then written, the ETag written beside it; then GET …/qc unless ``<file>.qc.json`` exists.

    NEUROFETCH_USERNAME=demo NEUROFETCH_PASSWORD=demo \
        python bench/baselines/loris_sequential.py BASE_URL DEST [--candidate ID]… [--include GLOB]…

``--candidate`` and ``--include`` stand in for the script's ``-v``/``-m`` filters (the large-file benchmark
uses them to fetch one file). The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http import TRANSPORT, get, post_json


def main() -> None:
    parser = argparse.ArgumentParser(description="Sequential LORIS download, as the PREVENT-AD script does it.")
    parser.add_argument("base_url")
    parser.add_argument("dest")
    parser.add_argument("--candidate", action="append", default=[])
    parser.add_argument("--include", action="append", default=[])
    args = parser.parse_args()
    base, outputdir = args.base_url.rstrip("/"), args.dest
    os.makedirs(outputdir, exist_ok=True)

    login = post_json(
        base + "/login",
        {
            "username": os.environ.get("NEUROFETCH_USERNAME", "demo"),
            "password": os.environ.get("NEUROFETCH_PASSWORD", "demo"),
        },
    )
    if login.status_code != 200:
        raise SystemExit(login.content.decode("ascii", "replace"))
    token = json.loads(login.content.decode("ascii"))["token"]
    auth = {"Authorization": f"Bearer {token}"}
    print("login successful")

    downloaded = written = 0
    candidates = json.loads(get(base + "/candidates/", auth).content.decode("ascii"))
    print(f"{len(candidates['Candidates'])} candidates found")
    for candidate in candidates["Candidates"]:
        candid = candidate["CandID"]
        if args.candidate and candid not in args.candidate:
            continue
        print(f"Processing candidate #{candid}")
        directory = f"{outputdir}/{candid}"
        os.makedirs(directory, exist_ok=True)
        with open(directory + "/candidate.json", "w") as handle:
            handle.write(str(candidate))
        sessions = json.loads(get(f"{base}/candidates/{candid}", auth).content.decode("ascii"))
        for visit in sessions["Visits"]:
            directory = f"{outputdir}/{candid}/{visit}"
            os.makedirs(directory, exist_ok=True)
            session = json.loads(get(f"{base}/candidates/{candid}/{visit}", auth).content.decode("ascii"))
            with open(directory + "/session.json", "w") as handle:
                handle.write(str(session["Meta"]))
            files = json.loads(get(f"{base}/candidates/{candid}/{visit}/images", auth).content.decode("ascii"))
            wanted = [
                f
                for f in files["Files"]
                if not args.include or any(fnmatch.fnmatch(f["Filename"], g) for g in args.include)
            ]
            count = 0
            for record in wanted:
                filename = record["Filename"]
                link = f"/candidates/{candid}/{visit}/images/{filename}"
                etag_path = f"{directory}/.{filename}.etag"
                etag = ""
                if os.path.isfile(etag_path):
                    with open(etag_path) as handle:
                        etag = handle.read()
                response = get(base + link, {**auth, "If-None-Match": etag})
                if response.status_code == 200:
                    with open(f"{directory}/{filename}", "w+b") as handle:
                        handle.write(bytes(response.content))
                    count += 1
                    written += len(response.content)
                with open(etag_path, "w") as handle:
                    handle.write(response.headers.get("ETag", response.headers.get("etag", "")))
                qc_path = f"{directory}/{filename}.qc.json"
                if not os.path.isfile(qc_path):
                    qc = get(base + link + "/qc", auth)
                    with open(qc_path, "w+b") as handle:
                        handle.write(bytes(qc.content))
            downloaded += count
            print(f"\tvisit {visit}: {len(wanted)} files found, {count} downloaded")
    print(json.dumps({"transport": TRANSPORT, "downloaded": downloaded, "bytes": written}))


if __name__ == "__main__":
    main()
