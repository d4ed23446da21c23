"""Reference: the least work a concurrent client can do for the LORIS mirror benchmark, to show what the machine allows.

A bare aiohttp crawler with at most JOBS requests in flight: POST /login, GET /candidates/, each candidate, each
visit (writes session.json), each image list, then for each file its GET (streamed to ``.part``, renamed into place)
and its QC record (written as ``<file>.qc.json``). The same 2 + C + 2V + 2F requests as the PREVENT-AD script and
``neurofetch mirror``, with none of neurofetch's work: no checks of sizes or content types, no hashing, no journal,
no retries, no resume, no safe-name checks, no progress. Not a tool: it exists so that the benchmark can show how
close neurofetch comes to the floor of this machine and this emulator.

    NEUROFETCH_USERNAME=demo NEUROFETCH_PASSWORD=demo python bench/baselines/loris_floor.py BASE_URL DEST --jobs 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import aiohttp


async def crawl(base: str, dest: str, jobs: int) -> int:
    slots = asyncio.Semaphore(jobs)
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=jobs + 2)) as session:
        login = {
            "username": os.environ.get("NEUROFETCH_USERNAME", "demo"),
            "password": os.environ.get("NEUROFETCH_PASSWORD", "demo"),
        }
        async with session.post(base + "/login", json=login) as response:
            token = json.loads(await response.read())["token"]
        auth = {"Authorization": f"Bearer {token}"}

        async def get_json(url: str) -> Any:
            async with slots, session.get(url, headers=auth) as response:
                return json.loads(await response.read())

        async def get_file(url: str, path: str) -> None:
            async with slots, session.get(url, headers=auth) as response:
                with open(path + ".part", "wb") as out:
                    async for chunk in response.content.iter_any():
                        out.write(chunk)
            os.replace(path + ".part", path)

        async def image(candidate: str, visit: str, filename: str) -> None:
            nonlocal done
            link = f"{base}/candidates/{candidate}/{visit}/images/{filename}"
            where = f"{dest}/{candidate}/{visit}/{filename}"
            await get_file(link, where)
            qc = await get_json(link + "/qc")
            with open(where + ".qc.json", "w") as out:
                json.dump(qc, out)
            done += 1

        async def visit(candidate: str, label: str) -> None:
            os.makedirs(f"{dest}/{candidate}/{label}", exist_ok=True)
            meta = await get_json(f"{base}/candidates/{candidate}/{label}")
            with open(f"{dest}/{candidate}/{label}/session.json", "w") as out:
                json.dump(meta, out)
            files = (await get_json(f"{base}/candidates/{candidate}/{label}/images"))["Files"]
            await asyncio.gather(*(image(candidate, label, f["Filename"]) for f in files))

        async def candidate(cand_id: str) -> None:
            visits = (await get_json(f"{base}/candidates/{cand_id}"))["Visits"]
            await asyncio.gather(*(visit(cand_id, v) for v in visits))

        candidates = (await get_json(base + "/candidates/"))["Candidates"]
        await asyncio.gather(*(candidate(c["CandID"]) for c in candidates))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("dest")
    parser.add_argument("--jobs", type=int, default=16)
    args = parser.parse_args()
    downloaded = asyncio.run(crawl(args.base_url.rstrip("/"), args.dest, args.jobs))
    print(json.dumps({"downloaded": downloaded}))


if __name__ == "__main__":
    main()
