"""Turning a user's picture into an MNIST-style 28x28 image: polarity, size, centring, file formats,
errors."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageFilter

from firstnet.errors import FirstnetError, ImageError
from firstnet.preprocess import (
    PICTURE_FORMATS,
    connected_parts,
    load_image,
    main_strokes,
    mnist_like,
)
from firstnet.serve.inputs import BadRequest, image_from_bytes


def seven() -> np.ndarray:
    """A thick '7', dark ink (0) on white paper (1), 28x28 float32."""
    image = np.ones((28, 28), dtype=np.float32)
    image[5:8, 7:21] = 0.0
    for row in range(7, 24):
        col = round(20 - (row - 7) * 8 / 16)
        image[row, col - 1 : col + 2] = 0.0
    return image


def one() -> np.ndarray:
    """A thick '1': a 20x4 bar, dark on white."""
    image = np.ones((28, 28), dtype=np.float32)
    image[4:24, 12:16] = 0.0
    return image


def upscale(image: np.ndarray, factor: int = 10) -> np.ndarray:
    return np.kron(image, np.ones((factor, factor), dtype=np.float32))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    mass = image.sum()
    return float((rows * image).sum() / mass), float((cols * image).sum() / mass)


def ink_box(image: np.ndarray) -> tuple[int, int]:
    """Height and width of the bounding box of all non-zero pixels."""
    rows, cols = np.nonzero(image > 0)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def assert_mnist_like(result: np.ndarray) -> None:
    """The properties every MNIST digit has: 28x28 float32 in [0, 1], bright ink on black, 20x20
    box, centred."""
    assert result.shape == (28, 28)
    assert result.dtype == np.float32
    assert result.min() >= 0.0 and result.max() == pytest.approx(1.0)
    border = np.concatenate([result[0], result[-1], result[:, 0], result[:, -1]])
    assert np.all(border == 0.0), "background must be black"
    assert 0.02 < (result > 0.5).mean() < 0.4, "ink must be a minority of bright pixels"
    height, width = ink_box(result)
    assert height <= 20 and width <= 20
    assert max(height, width) >= 19, "scaled to fill the 20x20 box"
    row, col = centre_of_mass(result)
    assert abs(row - 13.5) <= 1.0 and abs(col - 13.5) <= 1.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(image * 255).astype(np.uint8)


@pytest.mark.parametrize("digit", [seven, one])
def test_dark_ink_on_white_array_becomes_mnist_like(digit):
    image = digit()
    result = mnist_like(image)
    assert_mnist_like(result)
    # the ink is what becomes bright: the paper's pixels were 1.0, the result's background is 0
    assert result.sum() < 0.5 * result.size


def test_white_on_black_is_not_inverted():
    dark_on_white = seven()
    white_on_black = 1.0 - dark_on_white
    result = mnist_like(white_on_black)
    assert_mnist_like(result)
    np.testing.assert_allclose(result, mnist_like(dark_on_white), atol=1e-6)


def test_mnist_style_input_keeps_its_bright_pixels_bright():
    image = np.zeros((28, 28), dtype=np.float32)
    image[4:24, 12:16] = 1.0  # already 20x4, centred
    result = mnist_like(image)
    assert_mnist_like(result)
    assert result[4:24, 12:16].min() > 0.9
    assert result[:, :10].max() == 0.0 and result[:, 18:].max() == 0.0


def test_aspect_ratio_is_kept():
    result = mnist_like(upscale(one()))
    assert ink_box(result) == (20, 4)


def test_small_digit_off_centre_in_large_image_is_cropped_scaled_and_centred():
    canvas = np.ones((120, 300), dtype=np.float32)
    canvas[5:33, 250:278] = seven()  # a 28x28 '7' near the top right corner
    result = mnist_like(canvas)
    assert_mnist_like(result)
    np.testing.assert_allclose(result, mnist_like(seven()), atol=1e-5)


@pytest.mark.parametrize("digit", [seven, one])
def test_upscaled_digit_gives_the_same_kind_of_result(digit):
    small = mnist_like(digit())
    big = mnist_like(upscale(digit()))  # 280x280 white canvas
    assert_mnist_like(big)
    assert ink_box(big) == ink_box(small)
    assert np.corrcoef(small.ravel(), big.ravel())[0, 1] > 0.9


def test_gray_paper_tone_is_removed():
    image = 0.1 + 0.7 * seven()  # ink 0.1 on paper 0.8
    result = mnist_like(image)
    assert_mnist_like(result)
    np.testing.assert_allclose(result, mnist_like(seven()), atol=1e-5)


def test_slightly_noisy_paper_still_gives_a_centred_digit():
    rng = np.random.default_rng(0)
    image = np.clip(
        upscale(seven(), 4) + rng.uniform(-0.04, 0.0, (112, 112)).astype(np.float32), 0, 1
    )
    result = mnist_like(image)
    assert result.shape == (28, 28)
    row, col = centre_of_mass(result)
    assert abs(row - 13.5) <= 1.0 and abs(col - 13.5) <= 1.0
    assert np.corrcoef(result.ravel(), mnist_like(seven()).ravel())[0, 1] > 0.9


def test_input_is_not_modified():
    image = seven()
    before = image.copy()
    mnist_like(image)
    np.testing.assert_array_equal(image, before)


# --- Files
# -------------------------------------------------------------------------------------------


def test_grayscale_png(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(to_uint8(upscale(seven()))).save(path)
    gray = load_image(path)
    assert gray.shape == (280, 280) and gray.dtype == np.float32
    assert gray.min() == 0.0 and gray.max() == 1.0
    result = mnist_like(gray)
    assert_mnist_like(result)
    np.testing.assert_allclose(result, mnist_like(upscale(seven())), atol=1e-5)


def test_rgb_png_with_coloured_ink(tmp_path):
    rgb = np.full((280, 280, 3), 255, dtype=np.uint8)
    rgb[upscale(seven()) < 0.5] = (20, 40, 160)  # blue pen
    path = tmp_path / "blue.png"
    Image.fromarray(rgb).save(path)
    result = mnist_like(load_image(path))
    assert_mnist_like(result)
    assert np.corrcoef(result.ravel(), mnist_like(upscale(seven())).ravel())[0, 1] > 0.99


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_background_counts_as_white_paper(tmp_path, mode):
    """Black ink on a fully transparent background whose hidden colour is black (as drawing apps
    save it)."""
    ink = upscale(seven()) < 0.5
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)  # transparent black everywhere
    rgba[ink] = (0, 0, 0, 255)  # opaque black strokes
    path = tmp_path / "drawing.png"
    Image.fromarray(rgba, "RGBA").convert(mode).save(path)
    gray = load_image(path)
    assert gray.shape == (280, 280)
    assert gray[~ink].min() == 1.0 and gray[ink].max() == 0.0
    result = mnist_like(gray)
    assert_mnist_like(result)
    np.testing.assert_allclose(result, mnist_like(upscale(seven())), atol=1e-5)


def test_palette_png_with_transparency(tmp_path):
    ink = upscale(seven()) < 0.5
    indices = np.where(ink, 1, 0).astype(np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0, 0, 0, 0] + [0] * (254 * 3))  # both entries black ...
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)  # ... but entry 0 (the background) transparent
    result = mnist_like(load_image(path))
    assert_mnist_like(result)
    np.testing.assert_allclose(result, mnist_like(upscale(seven())), atol=1e-5)


def test_jpeg_photo_of_a_digit(tmp_path):
    path = tmp_path / "seven.jpg"
    Image.fromarray(to_uint8(upscale(seven()))).save(path, quality=75)
    result = mnist_like(load_image(path))
    assert result.shape == (28, 28) and result.dtype == np.float32
    row, col = centre_of_mass(result)
    assert abs(row - 13.5) <= 1.0 and abs(col - 13.5) <= 1.0
    assert np.corrcoef(result.ravel(), mnist_like(upscale(seven())).ravel())[0, 1] > 0.95


def test_16_bit_grayscale_png(tmp_path):
    image = np.where(upscale(seven(), 4) < 0.5, 10000, 50000).astype(np.uint16)
    path = tmp_path / "scan16.png"
    Image.fromarray(image).save(path)
    gray = load_image(path)
    assert gray.max() - gray.min() > 0.5  # ink and paper stay apart
    assert_mnist_like(mnist_like(gray))


# --- Errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(np.ones((28, 28)), id="white"),
        pytest.param(np.zeros((28, 28)), id="black"),
        pytest.param(np.full((50, 40), 0.5), id="uniform-gray"),
        pytest.param(np.full((1, 1), 1.0), id="one-pixel"),
        pytest.param(0.9 + 0.05 * seven(), id="faint-below-threshold"),
    ],
)
def test_blank_image_raises_image_error(image):
    with pytest.raises(ImageError, match="empty: no ink found"):
        mnist_like(image)


def test_blank_png_raises_image_error(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(path)
    with pytest.raises(ImageError, match="empty"):
        mnist_like(load_image(path))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("notes.png", b"this is a text file, not a picture\n", id="text-named-png"),
        pytest.param("empty.png", b"", id="empty-file"),
        pytest.param("data.bin", bytes(range(256)) * 4, id="binary"),
    ],
)
def test_non_image_file_raises_image_error_naming_path(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match="cannot read image") as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, FirstnetError)


def test_truncated_png_raises_image_error_naming_path(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(to_uint8(upscale(seven()))).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError, match="cannot read image") as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_path_raises_image_error_naming_path(tmp_path, kind):
    path = tmp_path / "digit.png"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise_image_error(bad):
    image = seven()
    image[10, 10] = bad
    with pytest.raises(ImageError, match="non-finite"):
        mnist_like(image)


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((28, 28, 3), id="rgb-array"),
        pytest.param((1, 28, 28), id="batch"),
        pytest.param((784,), id="flat"),
        pytest.param((0, 28), id="no-rows"),
    ],
)
def test_wrong_shape_raises_image_error(shape):
    with pytest.raises(ImageError, match=r"expected a 2-D grayscale image, got shape") as info:
        mnist_like(np.ones(shape, dtype=np.float32))
    assert str(shape).replace(" ", "") in str(info.value).replace(" ", "")


def test_a_phone_rotation_is_undone_from_its_exif(tmp_path):
    upright = Image.fromarray((255 * (1 - seven())).astype(np.uint8)).resize((112, 112))
    stored = upright.rotate(90, expand=True)  # on its side, as the camera wrote it
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to display
    stored.save(tmp_path / "photo.jpg", exif=exif.tobytes(), quality=95)
    upright.save(tmp_path / "upright.jpg", quality=95)
    read = load_image(tmp_path / "photo.jpg")
    assert read.shape == (112, 112)
    assert np.abs(read - load_image(tmp_path / "upright.jpg")).mean() < 0.02


def test_a_speck_in_a_corner_does_not_shrink_the_digit():
    clean = upscale(seven(), 4)  # dark ink on white paper, 112x112
    specked = clean.copy()
    specked[2:5, 105:108] = 0.0  # a 3x3 dark speck far from the digit
    assert np.corrcoef(mnist_like(specked).ravel(), mnist_like(clean).ravel())[0, 1] > 0.99


def test_uneven_light_on_the_paper_is_removed():
    clean = upscale(seven(), 4)  # dark ink on white paper
    rows, cols = np.mgrid[0:112, 0:112] / 112
    paper = 0.95 - 0.5 * (rows + cols) / 2  # bright in one corner, dim in the other
    shaded = paper - (1 - clean) * (paper - 0.05)
    ink, flat = mnist_like(shaded) > 0.3, mnist_like(0.1 + 0.7 * clean) > 0.3  # the 7 on even paper
    assert (ink & flat).sum() / (ink | flat).sum() > 0.5  # 0.62 here; 0.17 when the tone was one
    # number for the whole page (the border's median)


@pytest.mark.parametrize("grow", [False, True], ids=["thin pen", "thick pen"])
def test_strokes_come_out_about_as_thick_as_mnist(grow):
    bright = Image.fromarray(
        (255 * upscale(1 - seven(), 10)).astype(np.uint8)
    )  # 280x280, ink bright
    pen = ImageFilter.MaxFilter(21) if grow else ImageFilter.MinFilter(9)
    drawn = (np.asarray(bright.filter(pen), dtype=np.float32) / 255 > 0.5).astype(np.float32)
    ink = mnist_like(1 - drawn) > 0.5
    mnist_ink = mnist_like(seven()) > 0.5
    assert 0.6 < ink.sum() / mnist_ink.sum() < 1.7  # the same amount of ink, within reason


def flood_fill_parts(mask: np.ndarray) -> np.ndarray:
    """The 8-connected parts of `mask` the plain way (a queue per part), numbered in the order of
    their first pixel, row by row: the reference for connected_parts."""
    labels = np.zeros(mask.shape, dtype=np.int64)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        count += 1
        labels[start], queue = count, [start]
        while queue:
            row, col = queue.pop()
            for near in ((row + dy, col + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
                inside = 0 <= near[0] < mask.shape[0] and 0 <= near[1] < mask.shape[1]
                if inside and mask[near] and not labels[near]:
                    labels[near] = count
                    queue.append(near)
    return labels


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings group the pixels alike (labels may be numbered differently)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@pytest.mark.parametrize("density", [0.2, 0.45, 0.6])
@pytest.mark.parametrize("seed", range(3))
def test_connected_parts_finds_the_parts_a_flood_fill_finds(density, seed):
    mask = np.random.default_rng(seed).random((40, 50)) < density
    labels = connected_parts(mask)
    assert np.array_equal(labels > 0, mask)
    assert same_partition(labels, flood_fill_parts(mask))
    assert set(np.unique(labels)) == set(range(labels.max() + 1))  # 0, then 1, 2, ... each used


def serpentine(side: int) -> np.ndarray:
    """One stroke that winds across a side x side field, row after row: a path of about side^2/2
    pixels, the worst case for labelling that spreads a label one pixel per pass (its cost:
    benchmarks/preprocess_speed.py)."""
    mask = np.zeros((side, side), dtype=bool)
    mask[::2] = True
    mask[1::4, -1] = True
    mask[3::4, 0] = True
    return mask


def test_a_winding_stroke_is_one_part():
    mask = serpentine(128)
    labels = connected_parts(mask)
    assert labels.max() == 1 and np.array_equal(labels > 0, mask)


def test_a_canvas_drawing_and_the_same_digit_on_shaded_paper_agree():
    canvas = upscale(seven(), 10)  # a clean drawing: flat white ground, dark ink, 280x280
    rows, cols = np.mgrid[0:280, 0:280] / 280
    paper = 0.95 - 0.3 * (rows + cols) / 2  # a photo's uneven light: its border is not flat
    shaded = paper - (1 - canvas) * (paper - 0.05)
    clean, photo = mnist_like(canvas) > 0.3, mnist_like(shaded) > 0.3
    assert (clean & photo).sum() / (clean | photo).sum() > 0.6


def test_faint_pencil_on_slightly_noisy_paper_is_cropped_to_the_digit():
    clean = upscale(seven(), 10)  # 280x280, dark ink on white
    rng = np.random.default_rng(0)
    pencil = 1 - 0.3 * (1 - clean) + rng.normal(0, 0.013, clean.shape)  # ink contrast 0.3 only
    drawn, reference = mnist_like(np.clip(pencil, 0, 1)) > 0.3, mnist_like(clean) > 0.3
    assert (drawn & reference).sum() / (drawn | reference).sum() > 0.6  # 0.27 when taken as flat


def test_a_thin_pen_on_a_large_picture_comes_out_as_bright_strokes():
    from PIL import ImageDraw

    picture = Image.new("L", (800, 800), 255)  # a "7" in a 2-pixel line
    ImageDraw.Draw(picture).line([(229, 171), (571, 171), (381, 657)], fill=0, width=2)
    out = mnist_like(np.asarray(picture, dtype=np.float32) / 255)
    assert (out > 0.5).sum() / (out > 0.1).sum() > 0.65  # 0.74; 0.57 when thickened while grey


def test_a_speck_beside_a_stroke_on_a_clean_canvas_leaves_the_stroke_whole():
    ink = np.zeros((1024, 1024), dtype=bool)
    ink[150:900, 500:524] = True  # a stroke 24 pixels wide: a "1"
    stroke = ink.copy()
    ink[500:530, 532:562] = True  # a 30-pixel speck 8 pixels from it
    kept = main_strokes(ink, clean=True)
    assert kept[stroke].all() and not kept[500:530, 540:562].any()


@pytest.mark.parametrize(
    "ink",
    [
        (np.indices((3, 3)).sum(0) % 2).astype(np.float32),  # a 3x3 checkerboard
        np.pad(np.eye(2, dtype=np.float32), ((0, 278), (0, 278))),  # two diagonal pixels
        np.pad(np.ones((1, 1), dtype=np.float32), ((140, 139), (140, 139))),  # one pixel
    ],
    ids=["checkerboard", "two diagonal pixels", "one pixel"],
)
def test_degenerate_drawings_give_an_image_or_one_clear_error(ink):
    try:
        out = mnist_like(1 - ink)  # dark ink on white
    except ImageError as error:
        assert "empty" in str(error)
    else:
        assert out.shape == (28, 28) and np.isfinite(out).all() and out.max() == 1


def fuzz_seeds() -> dict[str, bytes]:
    """A drawn seven in every format `predict` reads, and tiny and degenerate PNGs."""
    seeds = {}
    picture = Image.fromarray(to_uint8(upscale(seven(), 3)))
    for kind in PICTURE_FORMATS:
        buffer = io.BytesIO()
        picture.convert("RGB" if kind == "JPEG" else "L").save(buffer, kind)
        seeds[kind] = buffer.getvalue()
    checkerboard = (np.indices((3, 3)).sum(0) % 2 * 255).astype(np.uint8)
    degenerate = {
        "1x1": np.zeros((1, 1), np.uint8),
        "1x300": np.full((1, 300), 255, np.uint8),
        "checkerboard": checkerboard,
        "diagonal": 255 - np.eye(2, dtype=np.uint8) * 255,
        "black": np.zeros((20, 20), np.uint8),
    }
    for name, pixels in degenerate.items():
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        seeds[name] = buffer.getvalue()
    return seeds


def mutants(data: bytes, rng: random.Random, count: int):
    """`count` damaged copies of `data`: bytes changed, cut short, a span repeated or zeroed,
    bytes inserted (the header's first 8 bytes kept, so the decoder is reached)."""
    for _ in range(count):
        damaged = bytearray(data)
        kind = rng.randrange(5)
        at = rng.randrange(8, len(damaged))
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(8, len(damaged))] = rng.randrange(256)
        elif kind == 1:
            del damaged[at:]
        elif kind == 2:
            damaged[at:at] = damaged[at : at + rng.randint(1, 64)]
        elif kind == 3:
            damaged[at : at + rng.randint(1, 64)] = bytes(64)[: len(damaged[at : at + 64])]
        else:
            damaged[at:at] = rng.randbytes(rng.randint(1, 32))
        yield bytes(damaged)


@pytest.mark.parametrize("seed", list(fuzz_seeds()))
def test_every_damaged_picture_is_an_answer_or_one_clear_line(seed):
    """Fuzzing the decoding and preprocessing of `predict` and of the page's uploads: whatever the
    bytes, the result is an MNIST-like image or an ImageError of one line (the page: a 4xx)."""
    data = fuzz_seeds()[seed]
    outcomes = {"answer": 0, "error": 0}
    for damaged in mutants(data, random.Random(seed), 150):
        try:
            seen = mnist_like(load_image(io.BytesIO(damaged)))
        except ImageError as error:
            assert str(error) and "\n" not in str(error), repr(error)
            outcomes["error"] += 1
        else:
            assert seen.shape == (28, 28) and np.isfinite(seen).all()
            assert seen.min() >= 0 and seen.max() <= 1
            outcomes["answer"] += 1
        try:
            image_from_bytes(damaged)
        except BadRequest as error:
            assert 400 <= error.status < 500 and "\n" not in str(error), repr(error)
    assert outcomes["error"] > 0  # the damage reached the decoder
