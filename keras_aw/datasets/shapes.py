"""Shapes: a procedurally generated image classification data set (no download).

Ten classes of filled shapes -- circle, ring, triangle, square, arrow, star,
cross, crescent, semicircle, heart -- each drawn with a random colour, size,
position and rotation on a cluttered background (a smooth colour field, random
coloured strokes, pixel noise). Shapes are anti-aliased (2x2 supersampling).
Generation is vectorized numpy: 10,000 32x32 images take about a second.

The set is deterministic per `seed`; the test split is generated from its own
random stream, so it does not change with `num_train`.

Example:

>>> from keras_aw.datasets import shapes
>>> (x_train, y_train), (x_test, y_test) = shapes.load_data(num_train=8, num_test=4)
>>> x_train.shape, x_train.dtype, y_train.shape, y_train.dtype
((8, 32, 32, 3), dtype('uint8'), (8,), dtype('uint8'))
>>> shapes.NUM_CLASSES, shapes.CLASS_NAMES[:3]
(10, ('circle', 'ring', 'triangle'))
>>> set(y_train.tolist()) | set(y_test.tolist()) <= set(range(10))
True
"""

import numpy as np

from keras_aw._validation import check_choice, check_positive_int
from keras_aw.utils.boxes import convert_boxes
from keras_aw.vocabulary import BOX_FORMATS, DEFAULT_BOX_FORMAT

CLASS_NAMES = (
    "circle",
    "ring",
    "triangle",
    "square",
    "arrow",
    "star",
    "cross",
    "crescent",
    "semicircle",
    "heart",
)
NUM_CLASSES = len(CLASS_NAMES)

_CHUNK = 1024  # images generated at once (bounds peak memory)
_SUPERSAMPLE = 2


def _polar_polygon(r, t, radii, sectors):
    """Inside test for a star-shaped polygon around the origin.

    Vertices sit at angles ``k * 2pi / sectors`` with radii cycling through
    `radii`; `r`, `t` are polar coordinates. Returns a boolean mask.
    """
    phi = 2.0 * np.pi / sectors
    t = np.mod(t, 2.0 * np.pi)
    k = np.floor(t / phi).astype(np.int64)
    local = t - k * phi
    radii = np.asarray(radii, np.float32)
    r0 = radii[k % len(radii)]
    r1 = radii[(k + 1) % len(radii)]
    # Ray s*d meets the edge P0 + lam*(P1 - P0): s = (P0 x E) / (d x E).
    p0x, p0y = r0, 0.0
    p1x, p1y = r1 * np.cos(phi), r1 * np.sin(phi)
    ex, ey = p1x - p0x, p1y - p0y
    num = p0x * ey - p0y * ex
    den = np.cos(local) * ey - np.sin(local) * ex
    return r < num / den


def _shape_mask(label, u, v):
    """Boolean mask of class `label` in shape-local coordinates (radius ~1)."""
    r = np.sqrt(u * u + v * v)
    t = np.arctan2(v, u)
    name = CLASS_NAMES[label]
    if name == "circle":
        return r < 0.9
    if name == "ring":
        return (r < 1.0) & (r > 0.55)
    if name == "triangle":
        return _polar_polygon(r, t, [1.15], 3)
    if name == "square":
        return (np.abs(u) < 0.75) & (np.abs(v) < 0.75)
    if name == "arrow":
        head = (u > 0.05) & (np.abs(v) < 0.95 * (1.05 - u))
        shaft = (u > -1.0) & (u <= 0.1) & (np.abs(v) < 0.3)
        return head | shaft
    if name == "star":
        return _polar_polygon(r, t, [1.15, 0.45], 10)
    if name == "cross":
        return ((np.abs(u) < 0.3) & (np.abs(v) < 1.0)) | (
            (np.abs(v) < 0.3) & (np.abs(u) < 1.0)
        )
    if name == "crescent":
        return (r < 1.0) & ((u - 0.5) ** 2 + v**2 > 0.8**2)
    if name == "semicircle":
        vv = v + 0.4
        return (u * u + vv * vv < 1.2**2) & (vv > 0)
    if name == "heart":
        x, y = u * 1.15, -v * 1.15 + 0.15
        return (x * x + y * y - 1.0) ** 3 - x * x * y**3 < 0
    raise ValueError(label)


def _interp_matrix(size, grid):
    """(size, grid) bilinear interpolation weights from a coarse grid to pixels."""
    pos = (np.arange(size) + 0.5) / size * (grid - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, grid - 2)
    frac = pos - lo
    m = np.zeros((size, grid))
    m[np.arange(size), lo] = 1.0 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _random_colours(rng, n):
    """Saturated random colours, shape (n, 3), values in [0, 1]."""
    hue = rng.uniform(0, 1, n)
    sat = rng.uniform(0.4, 1.0, n)
    val = rng.uniform(0.45, 1.0, n)
    k = np.mod(hue[:, None] * 6.0 + np.array([5.0, 3.0, 1.0]), 6.0)
    return val[:, None] * (1.0 - sat[:, None] * np.clip(np.minimum(k, 4.0 - k), 0, 1))


def _luminance(rgb):
    return rgb @ np.array([0.299, 0.587, 0.114])


def _background(rng, n, size, base):
    """(n, size, size, 3) float32 backgrounds: a smooth colour field around brightness
    `base` (n,) plus random coloured strokes."""
    s = float(size)
    grid = 4
    field = base[:, None, None, None] + rng.uniform(-0.12, 0.12, (n, grid, grid, 3))
    interp = _interp_matrix(size, grid)
    # (size, grid) @ (n, 3, grid, grid) @ (grid, size) -> (n, 3, size, size)
    bg = (interp @ field.transpose(0, 3, 1, 2) @ interp.T).astype(np.float32)
    bg = bg.transpose(0, 2, 3, 1)

    coords = np.arange(size, dtype=np.float32) + 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    num_strokes = 4
    p0 = rng.uniform(0, s, (n, num_strokes, 2)).astype(np.float32)
    angle = rng.uniform(0, np.pi, (n, num_strokes))
    length = rng.uniform(0.2, 0.6, (n, num_strokes)) * s
    p1 = p0 + length[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    p1 = p1.astype(np.float32)
    width = rng.uniform(0.4, 0.9, (n, num_strokes)).astype(np.float32)
    present = rng.uniform(0, 1, (n, num_strokes)) < 0.6
    stroke_colour = _random_colours(rng, n * num_strokes).reshape(n, num_strokes, 3)
    stroke_colour = stroke_colour.astype(np.float32)
    for k in range(num_strokes):
        a, b = p0[:, k], p1[:, k]
        d = b - a
        px = xx[None] - a[:, 0, None, None]
        py = yy[None] - a[:, 1, None, None]
        lam = np.clip(
            (px * d[:, 0, None, None] + py * d[:, 1, None, None])
            / (d[:, 0] ** 2 + d[:, 1] ** 2)[:, None, None],
            0,
            1,
        )
        dist = np.hypot(px - lam * d[:, 0, None, None], py - lam * d[:, 1, None, None])
        alpha = np.clip(width[:, k, None, None] + 0.5 - dist, 0, 1) * present[:, k, None, None]
        bg = bg * (1 - alpha[..., None]) + stroke_colour[:, k, None, None, :] * alpha[..., None]

    return bg


def _generate(rng, n, size):
    """Generates `n` images of `size` x `size`; returns (uint8 images, uint8 labels)."""
    labels = rng.integers(0, NUM_CLASSES, n)
    s = float(size)

    # Background: a smooth colour field whose brightness is kept away from the
    # shape's, so the shape stays visible, plus random coloured strokes.
    colour = _random_colours(rng, n)
    lum = _luminance(colour)
    dark = rng.uniform(0.05, 0.35, n)
    light = rng.uniform(0.7, 0.95, n)
    base = np.where(lum > 0.5, dark, light)
    bg = _background(rng, n, size, base)

    # The shape, drawn on a supersampled grid and averaged down (anti-aliasing).
    radius = rng.uniform(0.27, 0.4, n) * s
    margin = 0.8 * radius
    cx = rng.uniform(margin, s - margin)
    cy = rng.uniform(margin, s - margin)
    theta = rng.uniform(0, 2 * np.pi, n)
    ss = _SUPERSAMPLE
    sub = ((np.arange(size * ss) + 0.5) / ss).astype(np.float32)
    syy, sxx = np.meshgrid(sub, sub, indexing="ij")
    inv = (1.0 / radius).astype(np.float32)[:, None, None]
    dx = (sxx[None] - cx.astype(np.float32)[:, None, None]) * inv
    dy = (syy[None] - cy.astype(np.float32)[:, None, None]) * inv
    cos = np.cos(theta).astype(np.float32)[:, None, None]
    sin = np.sin(theta).astype(np.float32)[:, None, None]
    u = cos * dx + sin * dy
    v = -sin * dx + cos * dy
    mask = np.zeros(u.shape, bool)
    for label in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == label)
        if idx.size:
            mask[idx] = _shape_mask(label, u[idx], v[idx])
    alpha = mask.reshape(n, size, ss, size, ss).mean(axis=(2, 4), dtype=np.float32)[..., None]
    # A soft shading gradient across the shape so its colour is not flat.
    shade = 1.0 + 0.15 * (u.reshape(n, size, ss, size, ss).mean(axis=(2, 4)))[..., None]
    img = bg * (1 - alpha) + np.clip(colour[:, None, None, :] * shade, 0, 1) * alpha

    sigma = rng.uniform(0.02, 0.06, n)[:, None, None, None]
    img = img + sigma.astype(np.float32) * rng.standard_normal(img.shape, np.float32)
    img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return img, labels.astype(np.uint8)


def generate(num, image_size=32, seed=0):
    """Generates `num` images with their labels from one random stream.

    Returns:
        (x, y): uint8 images of shape (num, image_size, image_size, 3) and uint8
        labels of shape (num,).
    """
    num = int(num)
    if num < 0:
        raise ValueError(f"`num` must be >= 0; received num={num}")
    check_positive_int("image_size", image_size)
    if image_size < 8:
        raise ValueError(f"`image_size` must be at least 8; received image_size={image_size}")
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for start in range(0, num, _CHUNK):
        x, y = _generate(rng, min(_CHUNK, num - start), image_size)
        xs.append(x)
        ys.append(y)
    if not xs:
        return (
            np.zeros((0, image_size, image_size, 3), np.uint8),
            np.zeros((0,), np.uint8),
        )
    return np.concatenate(xs), np.concatenate(ys)


def load_data(num_train=10000, num_test=2000, image_size=32, seed=0):
    """Loads the Shapes data set, generating it procedurally.

    Args:
        num_train: number of training images.
        num_test: number of test images.
        image_size: height and width of the (square) RGB images, >= 8.
        seed: int; the same seed gives the same images. The test split comes
            from its own random stream, independent of `num_train`.

    Returns:
        Tuple of NumPy arrays `(x_train, y_train), (x_test, y_test)`, like
        `keras.datasets`: uint8 images of shape (num, image_size, image_size, 3)
        with values 0-255, and uint8 labels of shape (num,) indexing
        `CLASS_NAMES`.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int; received seed={seed!r}")
    train = generate(num_train, image_size, seed=[int(seed), 0])
    test = generate(num_test, image_size, seed=[int(seed), 1])
    return train, test


# --------------------------------------------------------------------------- detection

#: Box format of `load_detection_data` unless asked otherwise: absolute pixels,
#: (y_min, x_min, y_max, x_max), keras-hub's RetinaNet default.
DETECTION_BOX_FORMAT = DEFAULT_BOX_FORMAT


def _draw_objects(rng, img, num, min_size, max_size, max_iou):
    """Draws up to `num` shapes on one float image in place; returns (boxes yxyx, labels)."""
    size = img.shape[0]
    ss = _SUPERSAMPLE
    base = float(_luminance(img.reshape(-1, 3).mean(0)))
    boxes, labels = [], []
    for _ in range(num):
        for _attempt in range(20):
            radius = rng.uniform(min_size, max_size) / 2.0
            cy, cx = rng.uniform(0.8 * radius, size - 0.8 * radius, 2)
            label = int(rng.integers(0, NUM_CLASSES))
            theta = rng.uniform(0, 2 * np.pi)
            colour = _random_colours(rng, 1)[0]
            if abs(_luminance(colour) - base) < 0.3:
                colour = 1.0 - colour
            # the shape's supersampled mask inside its bounding square
            y0 = max(int(np.floor(cy - 1.7 * radius)), 0)
            y1 = min(int(np.ceil(cy + 1.7 * radius)), size)
            x0 = max(int(np.floor(cx - 1.7 * radius)), 0)
            x1 = min(int(np.ceil(cx + 1.7 * radius)), size)
            sy = (np.arange(y0 * ss, y1 * ss) + 0.5) / ss
            sx = (np.arange(x0 * ss, x1 * ss) + 0.5) / ss
            syy, sxx = np.meshgrid(sy, sx, indexing="ij")
            dx, dy = (sxx - cx) / radius, (syy - cy) / radius
            u = np.cos(theta) * dx + np.sin(theta) * dy
            v = -np.sin(theta) * dx + np.cos(theta) * dy
            mask = _shape_mask(label, u, v)
            alpha = mask.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
            rows, cols = np.nonzero(alpha > 0)
            if rows.size == 0:
                continue
            box = np.array([y0 + rows.min(), x0 + cols.min(), y0 + rows.max() + 1,
                            x0 + cols.max() + 1], np.float32)
            if boxes and _max_iou(box, np.array(boxes)) > max_iou:
                continue
            shade = 1.0 + 0.15 * u.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
            a = alpha[..., None]
            img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + np.clip(
                colour * shade[..., None], 0, 1) * a
            boxes.append(box)
            labels.append(label)
            break
    return boxes, labels


def _max_iou(box, boxes):
    y0 = np.maximum(box[0], boxes[:, 0])
    x0 = np.maximum(box[1], boxes[:, 1])
    y1 = np.minimum(box[2], boxes[:, 2])
    x1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return float(np.max(inter / (area(box) + area(boxes) - inter)))


def generate_detection(num, image_size=96, max_objects=4, min_size=16, max_size=48,
                       max_overlap=0.4, seed=0):
    """`num` detection images from one random stream; see `load_detection_data`.

    Returns:
        (images, {"boxes": (num, max_objects, 4) float32 yxyx pixels, "labels":
        (num, max_objects) int32}), padded with -1.
    """
    num = int(num)
    if num < 0:
        raise ValueError(f"`num` must be >= 0; received num={num}")
    check_positive_int("image_size", image_size)
    check_positive_int("max_objects", max_objects)
    if image_size < 16:
        raise ValueError(f"`image_size` must be at least 16; received image_size={image_size}")
    if not 4 <= min_size <= max_size <= image_size:
        raise ValueError(
            "need 4 <= min_size <= max_size <= image_size; received "
            f"min_size={min_size}, max_size={max_size}, image_size={image_size}"
        )
    rng = np.random.default_rng(seed)
    images = np.zeros((num, image_size, image_size, 3), np.uint8)
    boxes = np.full((num, max_objects, 4), -1.0, np.float32)
    labels = np.full((num, max_objects), -1, np.int32)
    for start in range(0, num, _CHUNK):
        n = min(_CHUNK, num - start)
        base = np.where(rng.uniform(0, 1, n) < 0.5, rng.uniform(0.05, 0.3, n),
                        rng.uniform(0.7, 0.95, n))
        bg = _background(rng, n, image_size, base)
        counts = rng.integers(1, max_objects + 1, n)
        for i in range(n):
            b, c = _draw_objects(rng, bg[i], counts[i], min_size, max_size, max_overlap)
            boxes[start + i, :len(b)] = b
            labels[start + i, :len(c)] = c
        sigma = rng.uniform(0.02, 0.05, n)[:, None, None, None].astype(np.float32)
        noisy = bg + sigma * rng.standard_normal(bg.shape, np.float32)
        images[start:start + n] = np.clip(np.rint(noisy * 255.0), 0, 255).astype(np.uint8)
    return images, {"boxes": boxes, "labels": labels}


def load_detection_data(num_train=2000, num_test=500, image_size=96, max_objects=4,
                        min_size=16, max_size=48, max_overlap=0.4, seed=0,
                        bounding_box_format=DETECTION_BOX_FORMAT):
    """Loads Shapes-Detect: several Shapes objects per image, with boxes and class ids.

    Each image holds 1 .. `max_objects` shapes of the ten `CLASS_NAMES`
    (random class, colour, rotation and size between `min_size` and
    `max_size` pixels) on the cluttered background of `load_data`. Objects may
    overlap (a later shape covers an earlier one) as long as two boxes' IoU is
    at most `max_overlap`. A box is the tight extent of its whole shape (the
    covered part included), in pixels.

    The set is deterministic per `seed`; the test split has its own random
    stream, so it does not change with `num_train`. Nothing is downloaded.

    Args:
        num_train: number of training images.
        num_test: number of test images.
        image_size: height and width of the square RGB images (>= 16).
        max_objects: most objects per image (and the padded length of the targets).
        min_size, max_size: range of the shapes' nominal diameter, pixels.
        max_overlap: largest IoU allowed between two boxes of an image.
        seed: non-negative int.
        bounding_box_format: a `keras.utils.bounding_boxes` format of the
            returned boxes ("yxyx" default: absolute (y_min, x_min, y_max,
            x_max); also "xyxy", "xywh", "center_yxhw", "rel_yxyx", ...).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (num, H, W, 3)
        and keras-hub's target dict ``{"boxes": float32 (num, max_objects, 4),
        "labels": int32 (num, max_objects)}``, padded with -1 (box rows of -1,
        label -1) after the real objects.

    Example:

    >>> from keras_aw.datasets import shapes
    >>> (x, y), _ = shapes.load_detection_data(num_train=4, num_test=2, image_size=64)
    >>> x.shape, y["boxes"].shape, y["labels"].shape
    ((4, 64, 64, 3), (4, 4, 4), (4, 4))
    >>> bool((y["labels"] >= -1).all() and (y["labels"] < shapes.NUM_CLASSES).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int; received seed={seed!r}")
    check_choice("bounding_box_format", bounding_box_format, BOX_FORMATS)
    kwargs = dict(image_size=image_size, max_objects=max_objects, min_size=min_size,
                  max_size=max_size, max_overlap=max_overlap)
    splits = []
    for stream, num in ((0, num_train), (1, num_test)):
        x, y = generate_detection(num, seed=[int(seed), 2, stream], **kwargs)
        if bounding_box_format != DETECTION_BOX_FORMAT:
            y["boxes"] = convert_boxes(y["boxes"], DETECTION_BOX_FORMAT, bounding_box_format,
                                       image_size, image_size, labels=y["labels"])
        splits.append((x, y))
    return tuple(splits)
