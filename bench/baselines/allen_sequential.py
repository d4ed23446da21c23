"""Baseline: the allensdk way to fetch every annotated plate of an atlas (reference/allen.md §3).

``ImageDownloadApi.atlas_image_query(atlas)`` (one RMA query through ``urllib.request.urlopen``, URL quoted as
allensdk quotes it), then for each AtlasImage, in order, ``download_atlas_image(id, path, downsample=N)``:
one ``requests.get(url, stream=True, timeout=(9.05, 31.1))`` that follows the redirect to the imageservice,
``raise_for_status()``, the body streamed to ``<id>.jpg`` in 512-byte chunks (requests_toolbelt's default).
No concurrency, no retries, no resume.

    python bench/baselines/allen_sequential.py BASE_URL OUT_DIR [--atlas 1] [--downsample 4]

The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
import urllib.request

try:
    import requests
except ImportError:
    requests = None

TIMEOUT = (9.05, 31.1)


def atlas_image_query_url(base: str, atlas: int) -> str:
    query = (
        f"{base}/api/v2/data/query.json?q=model::Atlas,rma::criteria,[id$eq{atlas}],"
        "rma::options[only$eqimage_type],pipe::list[type_name$is'image_type'],"
        f"model::AtlasImage,rma::criteria,[annotated$eqtrue],atlas_data_set(atlases[id$eq{atlas}]),"
        "alternate_images[image_type$eq$type_name],"
        "rma::options[num_rows$eq'all'][order$eqsub_images.section_number]"
    )
    return urllib.parse.quote(query, ";/?:@&=+$,")


def stream_to_file(url: str, path: str) -> int:
    written = 0
    try:
        with open(path, "wb") as handle:
            if requests is not None:
                response = requests.get(url, stream=True, timeout=TIMEOUT)
                response.raise_for_status()
                for chunk in response.iter_content(chunk_size=512):
                    handle.write(chunk)
                    written += len(chunk)
            else:
                with urllib.request.urlopen(url, timeout=TIMEOUT[1]) as response:
                    while chunk := response.read(512):
                        handle.write(chunk)
                        written += len(chunk)
    except Exception:
        os.remove(path)  # allensdk's cleanup_truncated_file
        raise
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Sequential Allen atlas download, as allensdk does it.")
    parser.add_argument("base_url")
    parser.add_argument("out")
    parser.add_argument("--atlas", type=int, default=1)
    parser.add_argument("--downsample", type=int, default=4)
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    os.makedirs(args.out, exist_ok=True)
    with urllib.request.urlopen(atlas_image_query_url(base, args.atlas)) as response:
        images = json.loads(response.read().decode("utf-8"))["msg"]
    total = 0
    for image in images:
        url = f"{base}/api/v2/atlas_image_download/{image['id']}?downsample={args.downsample}"
        total += stream_to_file(url, os.path.join(args.out, f"{image['id']}.jpg"))
    transport = f"requests {requests.__version__}" if requests is not None else "urllib (requests not installed)"
    print(json.dumps({"transport": transport, "images": len(images), "bytes": total}))


if __name__ == "__main__":
    main()
