"""allensdk's own ImageDownloadApi and RmaApi flows, unmodified, against the base URL in argv[1]; files go under
argv[2]. Run by the interpreter of a virtual environment with allensdk (tests/conformance); prints a JSON summary."""

import json
import sys
from pathlib import Path

from allensdk.api.queries.image_download_api import ImageDownloadApi
from allensdk.api.queries.rma_api import RmaApi

base, out = sys.argv[1], Path(sys.argv[2])
images = ImageDownloadApi(base_uri=base)
plates = images.atlas_image_query(1)
plate = plates[20]["id"]
images.download_atlas_image(
    plate, file_path=str(out / "plate_ds4_annotated.jpg"), downsample=4, annotation=True, atlas=1
)
images.download_atlas_image(plate, file_path=str(out / "plate_full.jpg"))  # the documented default
section_images = images.section_image_query(69782969)
ranges = images.get_section_image_ranges([69750516])
images.download_section_image(69750516, file_path=str(out / "section.jpg"), downsample=5)
images.download_section_image(69750516, file_path=str(out / "section_equalized.jpg"), downsample=5, range=ranges[0])
images.download_section_image(
    69750516, file_path=str(out / "section_full_range.jpg"), downsample=5, range=[0, 4095, 0, 4095, 0, 4095]
)
images.download_image(69750516, file_path=str(out / "expression.jpg"), downsample=5, view="expression")
images.download_image(69750516, file_path=str(out / "projection.jpg"), downsample=5, projection=True)
images.download_image(69750516, file_path=str(out / "jet.jpg"), downsample=5, colormap=(0.0, "jet"))

rma = RmaApi(base_uri=base)
atlas = rma.model_query("Atlas", criteria="[id$eq1]")
paged = rma.model_query(
    "AtlasImage",
    criteria="atlas_data_set(atlases[id$eq1]),[annotated$eqtrue]",
    order=["'sub_images.section_number'"],
    num_rows=50,
    start_row=100,
    count=False,
)
json.dump(
    {
        "plates": [p["id"] for p in plates],
        "plate": plate,
        "section_images": len(section_images),
        "ranges": ranges,
        "atlas": [a["id"] for a in atlas],
        "paged": [p["id"] for p in paged],
    },
    sys.stdout,
)
