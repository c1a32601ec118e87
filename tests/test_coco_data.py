"""The coco/2017 pipeline on a tiny COCO prepared by tfds's own builder (tests/tiny_coco.py).

Checked against independent references: the instances files the fixture wrote
(boxes, crowd flags, areas, category ids), PIL's resize of the decoded JPEG,
NumPy's flip, keras-hub's COCO id -> name table.
"""

import io

import numpy as np
import pytest
from PIL import Image

import tiny_coco
from tiny_coco import tiny_coco_dir  # noqa: F401  (the session fixture)

pytestmark = pytest.mark.backend_independent  # tf.data and NumPy only

SIZE = 128


def _instances(split):
    data, files = tiny_coco.instances({"validation": "val"}.get(split, split))
    annotations = {}
    for a in data.get("annotations", []):
        annotations.setdefault(a["image_id"], []).append(a)
    return {i["id"]: i for i in data["images"]}, annotations, files


def _raw(split, data_dir, part=None):
    from keras_aw.datasets.coco import read_split

    return list(read_split(split, data_dir, part=part).as_numpy_iterator())


def test_label_map_is_cocos(tiny_coco_dir):
    import tensorflow_datasets as tfds
    from keras_hub.utils import coco_id_to_name

    from keras_aw.datasets.coco import COCO_CATEGORY_IDS, COCO_CLASS_NAMES

    assert len(COCO_CATEGORY_IDS) == len(COCO_CLASS_NAMES) == 80
    # the table COCO's instances files carry (written out in tiny_coco, independently)
    assert COCO_CATEGORY_IDS == tuple(i for i, _ in tiny_coco.CATEGORIES)
    assert COCO_CLASS_NAMES == tuple(n for _, n in tiny_coco.CATEGORIES)
    # keras-hub's own COCO table agrees (it spells names with underscores)
    assert [coco_id_to_name(i) for i in COCO_CATEGORY_IDS] == \
        [n.replace(" ", "_") for n in COCO_CLASS_NAMES]
    # tfds's builder numbered the labels so that label i is COCO_CATEGORY_IDS[i]
    builder = tfds.builder("coco/2017", data_dir=tiny_coco_dir)
    assert tuple(builder.info.features["objects"]["label"].names) == COCO_CLASS_NAMES
    _, annotations, _ = _instances("validation")
    by_id = {a["id"]: a for objs in annotations.values() for a in objs}
    checked = 0
    for example in _raw("validation", tiny_coco_dir):
        for annotation_id, label in zip(example["objects"]["id"], example["objects"]["label"]):
            assert COCO_CATEGORY_IDS[label] == by_id[annotation_id]["category_id"]
            checked += 1
    assert checked == len(by_id) > 5


def test_resize_and_pad_geometry(tiny_coco_dir):
    from keras_aw.datasets.coco import COCO_CATEGORY_IDS, load_coco

    images, annotations, files = _instances("validation")
    ds = load_coco("validation", image_size=SIZE, max_objects=6, bounding_box_format="xyxy",
                   data_dir=tiny_coco_dir)
    pairs = list(zip(ds.as_numpy_iterator(), _raw("validation", tiny_coco_dir)))
    assert len(pairs) == len(images)
    for (image, target), example in pairs:
        info = images[int(example["image/id"])]
        h, w = info["height"], info["width"]
        scale = SIZE / max(h, w)
        nh, nw = int(round(h * scale)), int(round(w * scale))
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.float32
        assert np.all(image[nh:] == 0) and np.all(image[:, nw:] == 0)
        decoded = Image.open(io.BytesIO(files[info["file_name"]])).convert("RGB")
        reference = np.asarray(decoded.resize((nw, nh), Image.BILINEAR), np.float32)
        assert np.abs(image[:nh, :nw] - reference).mean() < 3.0
        # boxes: the instances file's (x, y, w, h) times the scale, crowd regions left out
        objects = [a for a in annotations.get(info["id"], []) if not a["iscrowd"]]
        expected = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in
                             (a["bbox"] for a in objects)]).reshape(-1, 4) * scale
        n = len(objects)
        np.testing.assert_allclose(target["boxes"][:n], expected, atol=1e-3)
        assert [COCO_CATEGORY_IDS[k] for k in target["labels"][:n]] == \
            [a["category_id"] for a in objects]
        assert np.all(target["labels"][n:] == -1) and np.all(target["boxes"][n:] == -1)


def test_flip_moves_boxes_with_the_image(tiny_coco_dir):
    from keras_aw.datasets.coco import load_coco

    kwargs = dict(image_size=SIZE, max_objects=6, bounding_box_format="xyxy",
                  data_dir=tiny_coco_dir)
    plain = list(load_coco("train", **kwargs).as_numpy_iterator())
    flipped = list(load_coco("train", training=True, seed=3, **kwargs).as_numpy_iterator())
    again = list(load_coco("train", training=True, seed=3, **kwargs).as_numpy_iterator())
    images, _, _ = _instances("train")
    ids = [int(e["image/id"]) for e in _raw("train", tiny_coco_dir)]
    outcomes = []
    for (image, target), (f_image, f_target), (a_image, _), image_id in \
            zip(plain, flipped, again, ids):
        np.testing.assert_array_equal(f_image, a_image)  # the seed fixes the flips
        info = images[image_id]
        scale = SIZE / max(info["height"], info["width"])
        nh, nw = int(round(info["height"] * scale)), int(round(info["width"] * scale))
        was_flipped = not np.array_equal(f_image, image)
        outcomes.append(was_flipped)
        valid = target["labels"] >= 0
        np.testing.assert_array_equal(f_target["labels"], target["labels"])
        if not was_flipped:
            np.testing.assert_array_equal(f_target["boxes"], target["boxes"])
            continue
        # the image region flipped by NumPy, the padding left where it was
        np.testing.assert_array_equal(f_image[:nh, :nw], np.fliplr(image[:nh, :nw]))
        assert np.all(f_image[nh:] == 0) and np.all(f_image[:, nw:] == 0)
        x0, y0, x1, y1 = target["boxes"][valid].T
        np.testing.assert_allclose(f_target["boxes"][valid],
                                   np.stack([nw - x1, y0, nw - x0, y1], -1), atol=1e-4)
        # the painted box's pixels moved with it: the flipped box covers the same colour
        for box, f_box in zip(target["boxes"][valid], f_target["boxes"][valid]):
            a = np.round(box).astype(int)
            b = np.round(f_box).astype(int)
            inner = image[a[1] + 1:a[3] - 1, a[0] + 1:a[2] - 1]
            f_inner = f_image[b[1] + 1:b[3] - 1, b[0] + 1:b[2] - 1]
            np.testing.assert_allclose(np.median(f_inner, (0, 1)), np.median(inner, (0, 1)),
                                       atol=8)
        assert np.all(f_target["boxes"][~valid] == -1)
    assert any(outcomes) and not all(outcomes), outcomes


def test_parts_are_disjoint_and_cover_the_split(tiny_coco_dir):
    from keras_aw.datasets.coco import load_coco, load_coco_evaluation

    everything = sorted(int(e["image/id"]) for e in _raw("train", tiny_coco_dir))
    assert len(everything) == tiny_coco.COUNTS["train"]
    for n in (2, 3, 4):
        parts = [[int(m["image_id"]) for _, m in load_coco_evaluation(
            "train", SIZE, data_dir=tiny_coco_dir, part=(n, i)).as_numpy_iterator()]
            for i in range(n)]
        assert sorted(sum(parts, [])) == everything, (n, parts)
        assert all(p for p in parts)
        sizes = [len(list(load_coco("train", SIZE, data_dir=tiny_coco_dir,
                                    part=(n, i)).as_numpy_iterator())) for i in range(n)]
        assert sizes == [len(p) for p in parts]


def test_evaluation_meta_is_the_original_ground_truth(tiny_coco_dir):
    from keras_aw.datasets.coco import COCO_CATEGORY_IDS, load_coco_evaluation

    images, annotations, _ = _instances("validation")
    seen = set()
    for image, meta in load_coco_evaluation("validation", SIZE, max_objects=6,
                                            data_dir=tiny_coco_dir).as_numpy_iterator():
        info = images[int(meta["image_id"])]
        seen.add(info["id"])
        assert image.shape == (SIZE, SIZE, 3)
        assert (meta["height"], meta["width"]) == (info["height"], info["width"])
        np.testing.assert_allclose(meta["scale"], SIZE / max(info["height"], info["width"]),
                                   rtol=1e-6)
        objects = annotations.get(info["id"], [])
        n = len(objects)
        assert meta["num_objects"] == n
        np.testing.assert_allclose(meta["gt_boxes"][:n],
                                   np.array([a["bbox"] for a in objects]).reshape(-1, 4),
                                   atol=1e-3)
        assert [COCO_CATEGORY_IDS[k] for k in meta["gt_labels"][:n]] == \
            [a["category_id"] for a in objects]
        assert meta["gt_is_crowd"][:n].tolist() == [a["iscrowd"] for a in objects]
        assert meta["gt_area"][:n].tolist() == [a["area"] for a in objects]
        assert np.all(meta["gt_labels"][n:] == -1) and np.all(meta["gt_boxes"][n:] == -1)
    assert seen == set(images)
    assert any(a["iscrowd"] for objs in annotations.values() for a in objs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_size=0), "image_size"),
    (dict(max_objects=-1), "max_objects"),
    (dict(part=(2, 2)), r"part=\(2, 2\)"),
    (dict(part=(0, 0)), "part"),
    (dict(part="a"), "part='a'"),
    (dict(seed="x"), "seed='x'"),
    (dict(bounding_box_format="ltrb"), "ltrb"),
])
def test_bad_arguments(kwargs, message):
    from keras_aw.datasets.coco import load_coco

    with pytest.raises((ValueError, TypeError), match=message):
        load_coco("validation", data_dir="/nonexistent", **kwargs)


def test_default_canvas_fits_p7():
    from keras_aw.datasets.coco import DEFAULT_CANVAS

    assert DEFAULT_CANVAS % 128 == 0
