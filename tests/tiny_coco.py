"""A tiny ``coco/2017`` prepared by tfds's own coco builder from files written here (no network).

Approach: tfds's builder (``tensorflow_datasets.object_detection.coco.Coco``,
config "2017") itself, not `tfds.testing.mock_data`. The builder downloads
COCO's zips and reads ``<images>/<split>2017/<file_name>`` and
``<annotations>/annotations/instances_<split>2017.json`` (``image_info_test2017.json``
for test) from the extracted folders; `prepare` writes those folders with a few
small JPEGs and instances files in COCO's format, and redirects the download
manager's ``download_and_extract`` to them while the builder prepares. So the
split's images, ids, labels (tfds numbers the categories in the file's order),
crowd flags and areas go through the same code as the real data set.

Each image is a dark noisy background with each annotated box painted in a
bright colour of its own (flips and resizes are visible in the pixels). Every
split has images of different aspect ratios, boxes of COCO's small, medium and
large sizes relative to the canvas, crowd annotations ("iscrowd": 1) and one
image without annotations. `CATEGORIES` is COCO 2017's category table written out
(id, name), in the instances files' order, independently of the package.

``instances(split)`` is the instances dict written for a split (the ground
truth an independent pycocotools evaluation reads); ``prepare(data_dir)``
prepares coco/2017 under `data_dir`; the test modules use the session fixture
`tiny_coco_dir` (``from tiny_coco import tiny_coco_dir``).
"""

import io
import json
import os
from unittest import mock

import numpy as np
import pytest
from PIL import Image

#: COCO 2017's 80 detection categories (id, name) in the order of its instances files.
CATEGORIES = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"),
    (7, "train"), (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"),
    (13, "stop sign"), (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"),
    (18, "dog"), (19, "horse"), (20, "sheep"), (21, "cow"), (22, "elephant"), (23, "bear"),
    (24, "zebra"), (25, "giraffe"), (27, "backpack"), (28, "umbrella"), (31, "handbag"),
    (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"), (36, "snowboard"),
    (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"),
    (46, "wine glass"), (47, "cup"), (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"),
    (52, "banana"), (53, "apple"), (54, "sandwich"), (55, "orange"), (56, "broccoli"),
    (57, "carrot"), (58, "hot dog"), (59, "pizza"), (60, "donut"), (61, "cake"), (62, "chair"),
    (63, "couch"), (64, "potted plant"), (65, "bed"), (67, "dining table"), (70, "toilet"),
    (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"), (76, "keyboard"),
    (77, "cell phone"), (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"),
    (82, "refrigerator"), (84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"),
    (88, "teddy bear"), (89, "hair drier"), (90, "toothbrush"),
)

#: (height, width) of the images, cycled.
SIZES = ((48, 64), (64, 48), (40, 40), (36, 72), (60, 45))
#: Images per split (the last one of train and validation has no annotations).
COUNTS = {"train": 6, "val": 5, "test": 2}
FIRST_ID = {"train": 1000, "val": 5000, "test": 9000}


def _objects(rng, height, width, image_id, first_annotation_id):
    """3-4 integer boxes: a large, a medium and a small one, and a crowd region."""
    annotations = []
    specs = [(0.6, 0), (0.35, 0), (0.15, 0), (0.3, 1)][:3 + int(image_id % 2 == 0)]
    for k, (fraction, crowd) in enumerate(specs):
        w = max(2, int(round(width * fraction * rng.uniform(0.8, 1.1))))
        h = max(2, int(round(height * fraction * rng.uniform(0.8, 1.1))))
        x = int(rng.integers(0, width - w + 1))
        y = int(rng.integers(0, height - h + 1))
        category, _ = CATEGORIES[int(rng.integers(0, len(CATEGORIES)))]
        annotations.append({
            "id": first_annotation_id + k, "image_id": image_id, "category_id": category,
            "bbox": [x, y, w, h], "area": int(w * h * 0.75) if not crowd else w * h,
            "iscrowd": crowd, "segmentation": {"counts": [], "size": [height, width]}
            if crowd else [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    return annotations


def _jpeg(rng, height, width, annotations):
    image = rng.integers(0, 40, (height, width, 3)).astype(np.uint8)
    for a in annotations:
        x, y, w, h = a["bbox"]
        image[y:y + h, x:x + w] = rng.integers(120, 256, 3)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def instances(split):
    """The COCO instances dict of `split` ("train", "val", "test"), and its JPEGs by file name.

    Deterministic: the same call gives the same files.
    """
    rng = np.random.default_rng({"train": 1, "val": 2, "test": 3}[split])
    images, annotations, files = [], [], {}
    for k in range(COUNTS[split]):
        image_id = FIRST_ID[split] + 7 * k
        height, width = SIZES[k % len(SIZES)]
        file_name = f"{image_id:012d}.jpg"
        objects = [] if split == "test" or k == COUNTS[split] - 1 else \
            _objects(rng, height, width, image_id, 100 * image_id)
        annotations += objects
        files[file_name] = _jpeg(rng, height, width, objects)
        images.append({"id": image_id, "file_name": file_name, "height": height,
                       "width": width})
    data = {"info": {"description": "keras_aw tiny COCO"}, "images": images,
            "categories": [{"id": i, "name": n, "supercategory": "thing"}
                           for i, n in CATEGORIES]}
    if split != "test":
        data["annotations"] = annotations
    return data, files


def write_sources(root):
    """Writes the extracted download folders; returns {download key: folder}."""
    paths = {}
    for split, name, annotation in (("train", "train", "instances_train2017.json"),
                                    ("val", "validation", "instances_val2017.json"),
                                    ("test", "test", "image_info_test2017.json")):
        data, files = instances(split)
        image_dir = os.path.join(root, f"{split}_images")
        os.makedirs(os.path.join(image_dir, f"{split}2017"))
        for file_name, content in files.items():
            with open(os.path.join(image_dir, f"{split}2017", file_name), "wb") as f:
                f.write(content)
        annotation_dir = os.path.join(root, f"{split}_annotations")
        os.makedirs(os.path.join(annotation_dir, "annotations"))
        with open(os.path.join(annotation_dir, "annotations", annotation), "w") as f:
            json.dump(data, f)
        paths[f"{name}_images"] = image_dir
        paths[f"{name}_annotations"] = annotation_dir
    return paths


def prepare(data_dir):
    """Prepares ``coco/2017`` under `data_dir` with tfds's own builder; returns the builder."""
    import tensorflow_datasets as tfds

    sources = write_sources(os.path.join(str(data_dir), "_sources"))

    def download_and_extract(self, urls):
        assert set(urls) == set(sources), sorted(urls)
        return dict(sources)

    builder = tfds.builder("coco/2017", data_dir=str(data_dir))
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract",
                           download_and_extract):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(num_shards=2))
    return builder


_PREPARED = {}


@pytest.fixture(scope="session")
def tiny_coco_dir(tmp_path_factory):
    """A tfds data dir holding a tiny ``coco/2017`` (tfds's own builder; see the module)."""
    pytest.importorskip("tensorflow_datasets")
    pytest.importorskip("pycocotools")
    if "dir" not in _PREPARED:
        path = tmp_path_factory.mktemp("coco2017")
        prepare(path)
        _PREPARED["dir"] = str(path)
    return _PREPARED["dir"]
