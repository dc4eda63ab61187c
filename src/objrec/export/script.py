# Written by objrec export beside the model it names (MODEL): runs it without objrec.
"""The top classes of photos, from an objrec export, in OpenVINO or ONNX Runtime.

It needs numpy, Pillow and a runtime, onnxruntime (``pip install onnxruntime numpy pillow``) or
openvino (an int8 model objrec ran in OpenVINO gives objrec's answers in openvino alone), not
objrec nor PyTorch, and Python 3.10 or later; older releases than objrec's do (onnxruntime 1.16,
numpy 1.24, Pillow 9.4: a Raspberry Pi OS 12's own python3-numpy and python3-pil); HEIC photos
need pillow-heif too, as in objrec::

    python model_infer.py photo.jpg more/*.jpg --topk 3
    python model_infer.py photo.jpg --json   # a photo not read: its "error", as objrec's
    python model_infer.py new_photos/ --csv answers.csv   # a folder's images, a table for Excel

It runs ``MODEL`` (the ONNX file beside it; ``--model`` for another export) and prepares each
photo as its sidecar (the same name with ``.json``) says and as objrec does: upright by EXIF,
RGB, the short side resized as PyTorch resizes, the centre square, normalised. It runs the
model in ONNX Runtime, or in OpenVINO where objrec ran the model's int8 network in OpenVINO (a
default run's) and ``openvino`` is installed (as it is with objrec), as objrec runs it: its
probabilities are then ``objrec predict``'s, as they are in ONNX Runtime for a model trained with
``--precision fp32`` (within 1e-5); such an int8 model's differ in ONNX Runtime (it says by how
much). ``--runtime`` picks one. From your own code::

    import model_infer
    answers = model_infer.Model().answer(["photo.jpg"], k=3)

It cannot import objrec, so it holds copies of objrec's code, which objrec's tests hold to
their originals (a change to one side alone fails them; change both together). The same code,
docstrings aside (tests/test_export.py, ``SCRIPT_COPIES``): ``is_hidden`` (objrec's
``listing``), ``image_formats`` and ``first_scan_components`` (``images``), ``typical_image``
(``meta``), ``quoted`` (``words``), ``escaped_character`` (``cli/output``). The same answers on
a few inputs, in the script's own terms (its answers are dicts): ``pixel_limit`` and
``bomb_reason`` (``images``), ``heif_kind`` (``heif``), ``shown`` (``utf8_name``) and
``is_image`` (``is_image_file``) (``listing``); ``printed``
(``cli/output``: ``one_line``); ``cell`` (``tables``: ``spreadsheet_cell``); ``softmax``
(``inference``: the calibrated probabilities); ``base_name``,
``tally`` and ``score_text`` (``prediction``: ``score_and_line``); ``first_of_each`` and
``warn_not_images`` (``predict``); ``tally_lines``, ``table_sentence``, ``failed_sentence``,
``more_line`` and ``familiarity_words`` (``cli/prediction``); ``resting_words``
(``thresholds``); ``threshold_sentence`` (tests/test_confidence.py) and ``write_csv`` (the
table of a folder, tests/test_export.py). The constants they read are objrec's too.

Its parts, in order, each under a ``# ---`` line naming its job: what export wrote in (the
model's name, objrec's words and limits); a photo decoded as objrec decodes it; the photo
prepared as the sidecar says; the model run (``Model``, its runtime, the unknown threshold);
predict's words for each answer; a name printed on one line; the files and folders it is given,
listed as predict lists them; the ``--csv`` table; every photo answered, and the command line
(``main``).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import csv
import importlib.util
import inspect
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path, PureWindowsPath
from typing import BinaryIO


def import_failed(exc: ImportError) -> str:
    """What this Python lacks, from ``exc`` (of onnxruntime, numpy or Pillow): the library as pip
    names it, never a submodule of a broken install (``onnxruntime.capi...``, a DLL that failed
    to load) nor "None" (an ImportError need not name one); one that is there but cannot be
    imported is said so, with why."""
    top = (exc.name or "").partition(".")[0]
    name = {"PIL": "Pillow"}.get(top, top)
    try:
        there = bool(top) and importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):  # a module of that name set to None, or with no spec
        there = False
    if top and not there:
        return f"this Python ({sys.executable}) lacks {name}"
    return f"this Python ({sys.executable}) cannot import {name or 'one of them'} ({exc})"


try:
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError
except ImportError as missing:  # run by a Python without them: one line (NEEDS), no traceback
    if __name__ != "__main__":  # imported by a program, whose ImportError it is
        raise
    sys.exit(
        f"{Path(sys.argv[0]).name}: needs onnxruntime, numpy and Pillow (pip install onnxruntime "
        f"numpy pillow), and {import_failed(missing)}"
    )

# --------------------- what export wrote in: the model's name, objrec's answer words and limits


MODEL = "model.onnx"
"""The ONNX file, beside this script, that objrec export wrote it for."""
UNKNOWN = "unknown"
"""The answer for a photo like none of the classes (no class may have that name), as objrec's."""
NEAR_LINE = 0.25
"""How far above the unknown threshold, in familiarity (1 for a typical image of the run's known
classes, 0 at the run's threshold), an answered photo is barely familiar, as objrec predict says
it."""
MAX_PIXELS = 89_478_485
"""The most pixels decoded from one photo (``OBJREC_MAX_PIXELS`` for another), counted as objrec
counts them (a JPEG at the reduced scale of :data:`LIMIT_SIDE`): objrec's limit, written in by
export."""
LIMIT_SIDE = 274
"""The side a JPEG counts at against the limit, whatever scale it is decoded at: objrec's
(``images.LIMIT_SIDE``), so that the script refuses the photos ``objrec predict`` refuses."""
ERRORS = {
    "cannot_read": "cannot read image ({reason})",
    "not_image": "not a recognised image format",
    "empty": "empty file, 0 bytes",
    "decompression_bomb": "{pixels} pixels is over the limit of {limit:,} pixels",
    "over_limit": "{width}x{height} pixels is over the limit of {limit:,} pixels",
    "too_large_hint": "downscale it, or raise the limit with OBJREC_MAX_PIXELS (docs/folders.md)",
    "missing": "no such file or folder",
    "broken_link": "a link to {target}, which is not there (moved or deleted since it was linked)",
    "not_image_file": "not an image file objrec reads ({suffix})",
    "no_images": "no image files in this folder",
    "heif_unreadable": "{a} {kind} image Pillow cannot read (damaged or unsupported)",
    "avif_no_decoder": "an AVIF image, which Pillow cannot decode here: convert it to JPEG or PNG",
    "heif_no_decoder": "a {kind} image, which needs pillow-heif to be read: `pip install "
    "pillow-heif`, or convert it to JPEG or PNG",
    "truncated": "the file is truncated, cut short as an unfinished copy or download leaves it",
    "webp_cut": "a WebP file cut short or damaged, as an unfinished copy or download leaves it",
}
"""objrec's words for a photo it cannot read, written in by export: the script's errors are
``objrec predict``'s (:func:`why_not_read`)."""
TRUNCATED = re.compile(r"image file is truncated\b|truncated file read$", re.IGNORECASE)
"""Pillow's words for a file that ends before its image does ("image file is truncated (11
bytes not processed)"), said in objrec's instead (``ERRORS["truncated"]``), as objrec does."""
WEBP_CUT = "could not create decoder object"
"""Pillow's words for a WebP file cut short, said in objrec's instead (``ERRORS["webp_cut"]``),
as objrec does."""
HEIF_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"hevc": "HEIC",
    b"hevx": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}
"""The ``ftyp`` brands of HEIF files (``....ftypheic``), by the name people know them by."""


# ------------------- a photo decoded as objrec decodes it: upright, RGB, within the pixel limit


def decoded(path: str | Path, draft: int) -> np.ndarray:
    """The photo at ``path`` as upright RGB pixels (H, W, 3), decoded as objrec decodes it: a
    JPEG at the smallest DCT scale keeping both sides at least ``draft``, deeper grey as
    :func:`grey8` says, transparent pixels (alpha, or one transparent value) over white."""
    limit = pixel_limit()  # before Pillow opens it: it may raise Pillow's guard
    image = opened(path)
    kind = image.format
    refuse_over(image, limit)
    if kind in ("JPEG", "MPO"):
        image.draft("RGB", (draft, draft))
    image = upright(image)
    if image.mode in ("RGBa", "La"):  # premultiplied alpha
        image = image.convert(image.mode.upper())
    key = image.info.get("transparency") if image.mode in KEYED else None
    deep = image.mode.startswith("I;16") or image.mode in ("I", "F")
    if deep and key is not None:
        opaque = Image.fromarray((np.asarray(image) != key).astype(np.uint8) * 255)
        image = grey8(image, kind).convert("RGBA")
        image.putalpha(opaque)
    elif deep:
        image = grey8(image, kind)
    if image.mode in ("RGBA", "LA", "PA") or key is not None:
        rgba, image = image.convert("RGBA"), Image.new("RGB", image.size, (255, 255, 255))
        image.paste(rgba, mask=rgba.getchannel("A"))
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))  # no copy of RGB


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned upright by its EXIF orientation: in place, as objrec turns it (a copy held
    the pixels twice), where Pillow can (10.0 on); Pillow 9, which a Raspberry Pi's own packages
    give (Raspberry Pi OS 12's 9.4), only returns a turned copy."""
    if "in_place" not in inspect.signature(ImageOps.exif_transpose).parameters:
        return ImageOps.exif_transpose(image)
    ImageOps.exif_transpose(image, in_place=True)
    return image


def opened(path: str | Path) -> Image.Image:
    """``Image.open``; a HEIC photo (an iPhone's) as objrec reads it, through pillow-heif's
    opener where pillow-heif is installed (``pip install pillow-heif``), registered at the first
    HEIC or HEIF photo Pillow cannot identify. Opened as one of :func:`image_formats` only."""
    try:
        return Image.open(path, formats=image_formats())
    except Image.DecompressionBombError:
        image = baseline_jpeg(path)
        if image is None:
            raise
        return image
    except UnidentifiedImageError:
        if heif_kind(first_bytes(path)) not in ("HEIC", "HEIF") or not heif_opener():
            raise
    return Image.open(path, formats=image_formats())


def image_formats() -> tuple[str, ...]:
    """The formats a photo is decoded as, as objrec decodes one: those of
    :data:`IMAGE_EXTENSIONS` as Pillow registers them (pillow-heif's too), not every format
    Pillow knows: its EPS reader runs Ghostscript, a PostScript interpreter, on a file's bytes
    (a PostScript file named .jpg), which objrec never does."""
    registered = Image.registered_extensions()
    known = {registered[ext] for ext in IMAGE_EXTENSIONS if ext in registered}
    return tuple(sorted(known & set(Image.OPEN)))


def first_bytes(path: str | Path) -> bytes | None:
    """The file's first 12 bytes (``b""``: empty), None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(12)
    except OSError:
        return None


def heif_kind(head: bytes | None) -> str | None:
    """HEIC, HEIF or AVIF when ``head`` (a file's first 12 bytes) starts such a file."""
    return HEIF_BRANDS.get(head[8:12]) if head and head[4:8] == b"ftyp" else None


def pixel_limit() -> int:
    """:data:`MAX_PIXELS`, or the number ``OBJREC_MAX_PIXELS`` holds, as objrec reads it: a higher
    one raises Pillow's own guard with it (which refuses twice its value from a file's header)."""
    text = os.environ.get("OBJREC_MAX_PIXELS", "").strip()
    if not text:
        return MAX_PIXELS
    try:
        limit = int(text.replace(",", ""))
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(
            f"OBJREC_MAX_PIXELS={text} is not a number of pixels: set it to a whole number such "
            f"as 200000000, or unset it for the default, {MAX_PIXELS:,}"
        )
    if Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit
    return limit


def bomb_reason(exc: Exception, limit: int) -> str:
    """objrec's words for a photo Pillow's own guard refused from its header: its pixels, which
    Pillow's message counts, over ``limit`` (objrec's ``images.bomb_reason``), never Pillow's
    sentence ("could be decompression bomb DOS attack")."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    guard = 2 * (Image.MAX_IMAGE_PIXELS or limit)
    pixels = f"{int(found[1]):,}" if found else f"more than {guard:,}"
    return ERRORS["decompression_bomb"].format(pixels=pixels, limit=limit)


class OverLimit(Image.DecompressionBombError):
    """A photo over the pixel limit (:func:`refuse_over`), said as objrec says it."""


def refuse_over(image: Image.Image, limit: int) -> None:
    """Refuse, before decoding it, an image (opened, not reduced) that counts more than ``limit``
    pixels: a JPEG at the reduction libjpeg's draft mode picks for :data:`LIMIT_SIDE`, as objrec
    counts it (``images.counted_size``), whatever scale it is decoded at."""
    width, height = image.size
    if image.format in ("JPEG", "MPO") and len(getattr(image, "tile", ())) == 1:
        fits = min(width // LIMIT_SIDE, height // LIMIT_SIDE)
        scale = next(s for s in (8, 4, 2, 1) if fits >= s or s == 1)
        width, height = -(-width // scale), -(-height // scale)
    if width * height > limit:
        over = ERRORS["over_limit"].format(width=width, height=height, limit=limit)
        raise OverLimit(f"{over}: {ERRORS['too_large_hint']}")


def baseline_jpeg(path: str | Path) -> Image.Image | None:
    """A JPEG Pillow would not open (over twice its limit, from its header), opened all the same
    as objrec opens it, to be decoded at a reduced scale; None for any other file, or a JPEG of
    several scans (progressive, or a first scan of some of its components: its decoder holds
    the whole image's coefficients, whatever the scale)."""
    from PIL import JpegImagePlugin

    with open(path, "rb") as f:
        if f.read(3) != b"\xff\xd8\xff":
            return None
        components = first_scan_components(f)
    image = JpegImagePlugin.JpegImageFile(path)  # its first picture, as for an MPO
    if image.info.get("progressive") or components != image.layers:
        image.close()
        return None
    return image


def first_scan_components(f: BinaryIO) -> int | None:
    """How many components a JPEG's first scan holds (its SOS header), read from the open file
    ``f`` past its SOI; None if none is found."""
    f.seek(2)  # past SOI
    while byte := f.read(1):
        if byte != b"\xff":
            continue
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker or marker in b"\x00\x01\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8":
            continue  # no length follows (a stuffed byte, RSTn, SOI)
        head = f.read(2)
        if marker == b"\xda" or len(head) < 2:
            count = f.read(1)
            return count[0] if marker == b"\xda" and count else None
        f.seek(int.from_bytes(head, "big") - 2, os.SEEK_CUR)
    return None


def heif_opener() -> bool:
    """Whether pillow-heif's opener is registered with Pillow now: False where it is not
    installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


KEYED = ("1", "L", "P", "RGB", "I", "I;16", "I;16B", "I;16L")
"""Modes whose transparency may be one value (a palette entry, a PNG's tRNS colour)."""


def grey8(image: Image.Image, kind: str | None) -> Image.Image:
    """8-bit grey from one channel deeper than 8 bits, as objrec reads it: 16 bits (a PGM's too,
    mode I) divided by 256; floats all within 0..1 times 255; any other (32-bit TIFF) scaled by
    its own darkest and brightest pixels, a flat one black, pixels that are no number black."""
    if image.mode.startswith("I;16") or (image.mode == "I" and kind == "PPM"):
        top = np.asarray(image) >> 8  # whole numbers: float64 copies took 32 bytes a pixel
        return Image.fromarray(np.clip(top, 0, 255, out=top).astype(np.uint8))
    x = np.array(image, dtype=np.float64)  # scaled in place: one copy
    finite = np.isfinite(x)
    low = x.min(where=finite, initial=np.inf) if finite.any() else 0.0
    high = x.max(where=finite, initial=-np.inf) if finite.any() else 0.0
    if image.mode == "F" and low >= 0 and high <= 1:
        x *= 255
    elif high > low:
        x -= low
        x *= 255 / (high - low)
    else:
        x[:] = 0
    np.nan_to_num(x, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(x, 0, 255, out=x).astype(np.uint8))


# --------------- the photo prepared as the sidecar says: resized as PyTorch resizes, the centre


def resized(x: np.ndarray, n: int, axis: int, kind: str) -> np.ndarray:
    """``x`` (uint8) with ``n`` pixels along ``axis``, as PyTorch resizes uint8 pixels
    (antialiased, 16-bit integer filter weights): objrec's input, bit for bit."""
    m = x.shape[axis]
    if m == n:
        return x
    if kind == "nearest":  # the pixel at floor(i * m / n), in float32
        at = np.arange(n, dtype=np.float32) * (np.float32(m) / np.float32(n))
        return x.take(np.minimum(at.astype(int), m - 1), axis)
    w = filter_weights(m, n, kind)
    bits = next((b for b in range(22) if int(0.5 + w.max() * 2 ** (b + 1)) >= 2**15), 22)
    w = np.sign(w) * np.floor(np.abs(w) * 2**bits + 0.5)
    return weighted_sum(x, w, axis, bits)


def weighted_sum(x: np.ndarray, w: np.ndarray, axis: int, bits: int) -> np.ndarray:
    """``w`` (n, m) of whole numbers applied along ``axis`` of ``x``, shifted right by ``bits``
    with rounding, as uint8: a tap at a time over each output pixel's few nonzero weights, not
    the whole (n, m) matrix over the scan as float64 (1.15 GB for 8000 x 6000, 1.7 GB at the
    peak). Sums of whole numbers under 2**53: exact in any order, so the same pixels."""
    n, m = w.shape
    nonzero = w != 0
    first = nonzero.argmax(1)
    taps = int((m - nonzero[:, ::-1].argmax(1) - first).max())
    shape = list(x.shape)
    shape[axis] = n
    y = np.zeros(shape)
    along = [1] * x.ndim
    along[axis] = n
    for k in range(taps):
        at = np.minimum(first + k, m - 1)
        weight = np.where(first + k < m, w[np.arange(n), at], 0.0)
        y += weight.reshape(along) * x.take(at, axis)
    y = np.floor((y + 2 ** (bits - 1)) / 2**bits)
    return np.clip(y, 0, 255).astype(np.uint8)


def filter_weights(m: int, n: int, kind: str) -> np.ndarray:
    """The (n, m) weights of a bilinear or bicubic (Keys, a = -0.5) resize from m pixels to n,
    widened by the reduction, each row normalised."""
    scale = m / n
    stretch, centre = max(scale, 1.0), scale * (np.arange(n)[:, None] + 0.5)
    reach, j = (2 if kind == "bicubic" else 1) * stretch, np.arange(m)
    t = np.abs(j - centre + 0.5) * (1.0 / stretch)
    if kind == "bicubic":
        far = np.where(t < 2, ((-0.5 * t + 2.5) * t - 4) * t + 2, 0)
        w = np.where(t < 1, (1.5 * t - 2.5) * t * t + 1, far)
    else:
        w = np.maximum(1 - t, 0)
    w = w * ((j >= (centre - reach + 0.5).astype(int)) & (j < (centre + reach + 0.5).astype(int)))
    return w / w.sum(1, keepdims=True)


def centre(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """The centre ``height`` x ``width`` part of ``x``, offsets rounded as torchvision does."""
    top, left = round((x.shape[0] - height) / 2), round((x.shape[1] - width) / 2)
    return x[top : top + height, left : left + width]


def prepared(pixels: np.ndarray, spec: dict) -> np.ndarray:
    """RGB pixels -> the model's input (3, S, S) in float32, as the sidecar's ``input`` says."""
    h, w = pixels.shape[:2]
    cap = spec["max_aspect"]  # a strip keeps its centre part, cap short sides long
    x = centre(pixels, min(h, cap * w), min(w, cap * h))
    h, w = x.shape[:2]
    s, c, kind = spec["resize_short_side"], spec["center_crop"], spec["interpolation"]
    size = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)  # the long side rounded down
    x = resized(resized(x, size[0], 1, kind), size[1], 0, kind)
    x = centre(x, c, c).astype(np.float32) * np.float32(1 / 255)
    x = (x - np.float32(spec["mean"])) / np.float32(spec["std"])
    return x.transpose(2, 0, 1).copy()


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores.astype(np.float32) / np.float32(temperature)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# ----------------- the model run: its runtime (ONNX Runtime or OpenVINO), the unknown threshold


PYTHON = (3, 10)
"""The oldest Python the script runs on (``zip(strict=True)``): Raspberry Pi OS 11's 3.9 stopped
with "zip() takes no keyword arguments" at the first photo."""


def python_too_old() -> str | None:
    """Why this Python cannot run the script, in one sentence; None where it can."""
    if sys.version_info >= PYTHON:
        return None
    running = ".".join(map(str, sys.version_info[:3]))
    return f"needs Python {'.'.join(map(str, PYTHON))} or later, and this is Python {running}"


RUNTIMES = ("auto", "openvino", "onnxruntime")
"""What runs the model (``--runtime``): ``auto`` is OpenVINO for a model whose int8 network objrec
ran in OpenVINO, where ``openvino`` is installed, else ONNX Runtime (:func:`chosen_runtime`)."""
SMALL_BATCH = 2
"""The static batch OpenVINO runs one or two photos in, as objrec runs it (not 1, at which an
ONNX ``Squeeze`` without axes would drop the batch axis too)."""
BATCH = 16
"""The static batch OpenVINO runs more photos in, the last one padded with blank images."""


def chosen_runtime(spec: dict, runtime: str = "auto") -> str:
    """``openvino`` or ``onnxruntime``: ``runtime`` itself, or for ``auto`` the engine objrec ran
    the model's int8 network in (the sidecar's ``int8_engine``) where it is installed: OpenVINO's
    8-bit arithmetic rounds otherwise than ONNX Runtime's, so only it gives objrec's answers."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r} is none of {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    ran = spec.get("int8_engine") == "openvino"
    return "openvino" if ran and importlib.util.find_spec("openvino") else "onnxruntime"


class OnnxRuntime:
    """The ONNX file at ``path`` in ONNX Runtime, on the CPU: a batch in, the named outputs out."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(self, names: list[str], x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(names, {"input": x})


class OpenVino:
    """The ONNX file at ``path`` in OpenVINO on the CPU, as objrec runs an int8 network there: at
    a static batch (:data:`SMALL_BATCH` photos, or :data:`BATCH`, the last batch padded with blank
    images: OpenVINO's kernels for a dynamic batch round otherwise, its static ones give a photo
    the same answer in any batch), float operators in float32 (a CPU with AMX would pick
    bfloat16). Each batch size is compiled at its first use (a second or two)."""

    def __init__(self, path: Path):
        import openvino as ov

        self.core = ov.Core()
        self.graph = self.core.read_model(str(path))
        self.compiled: dict[int, object] = {}

    def compiled_for(self, n: int):
        if n not in self.compiled:
            graph = self.graph.clone()
            shape = graph.input(0).get_partial_shape()
            shape[0] = n
            graph.reshape({graph.input(0): shape})
            self.compiled[n] = self.core.compile_model(
                graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
            )
        return self.compiled[n]

    def run(self, names: list[str], x: np.ndarray) -> list[np.ndarray]:
        size = SMALL_BATCH if len(x) <= SMALL_BATCH else BATCH
        parts = []
        for start in range(0, len(x), size):
            chunk = x[start : start + size]
            blank = np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)
            compiled = self.compiled_for(size)
            result = compiled(np.concatenate([chunk, blank]))
            parts.append([np.asarray(result[compiled.output(name)]) for name in names])
        return [np.concatenate(out)[: len(x)] for out in zip(*parts, strict=True)]


ENGINES: dict[str, type[OpenVino | OnnxRuntime]] = {
    "openvino": OpenVino,
    "onnxruntime": OnnxRuntime,
}
"""What runs the model, by the name ``--runtime`` gives it."""


log = logging.getLogger(__name__)
"""``model_infer``'s logger, as a program importing the script names it."""


def given_threshold(spec: dict, threshold: float) -> dict:
    """The sidecar ``spec`` with ``threshold`` in place of its own, as ``objrec predict
    --threshold`` takes it: on the same score (the familiarity, 0 the run's own line, or the top
    probability), said under the answers as given with --threshold. The one it replaces is kept
    as ``run_threshold`` where the sidecar names none. A threshold on the top probability is
    refused outside 0 to 1, as objrec refuses it (a ValueError)."""
    unknown = dict(spec["unknown"])
    if not isinstance(threshold, (int, float)) or threshold != threshold:  # NaN
        raise ValueError(f"--threshold {threshold!r}: give a number")
    if unknown.get("score") == "msp" and not 0 <= threshold <= 1:
        raise ValueError(
            f"--threshold {threshold}: this model's unknown score is the top probability, so "
            "its threshold is between 0 and 1"
        )
    unknown.setdefault("run_threshold", unknown.get("threshold"))
    unknown |= {"threshold": float(threshold), "threshold_given": "here"}
    unknown.pop("threshold_kept_on", None)
    return spec | {"unknown": unknown}


class Model:
    """The export at ``path`` (default: :data:`MODEL` beside this script) with its sidecar, run by
    ``runtime`` (:data:`RUNTIMES`; its choice is ``self.runtime``); ``threshold``: the unknown
    threshold to use instead of the sidecar's (:func:`given_threshold`). Where its answers are not
    objrec's (:func:`int8_note`), it says so once, as it loads: ``say`` gets the note (the
    command line prints it), else it is logged as a warning, so that a service importing the
    script is told too that its answers differ a little from ``objrec predict``'s."""

    def __init__(
        self,
        path: str | Path | None = None,
        runtime: str = "auto",
        say: Callable[[str], object] | None = None,
        threshold: float | None = None,
    ):
        if python_too_old():
            raise RuntimeError(f"{Path(__file__).name} {python_too_old()}")
        self.path = Path(path) if path else Path(__file__).with_name(MODEL)
        sidecar = self.path.with_suffix(".json")
        if not self.path.is_file():
            raise FileNotFoundError(f"no model at {self.path}")
        if not sidecar.is_file():
            raise FileNotFoundError(f"no sidecar at {sidecar}: copy it with the model")
        try:
            self.spec = json.loads(sidecar.read_text(encoding="utf-8"))
        except ValueError as exc:  # cut short or edited: json's words alone name no file
            raise ValueError(f"{sidecar} is not the JSON sidecar an export writes ({exc})") from exc
        if threshold is not None:
            self.spec = given_threshold(self.spec, threshold)
        self.runtime = chosen_runtime(self.spec, runtime)
        self.openvino_failed = ""
        """Why ``auto`` runs ONNX Runtime where it chose OpenVINO: installed, it cannot be
        imported (a broken wheel or native library); "" where it did not fall back."""
        try:
            self.engine: OpenVino | OnnxRuntime = ENGINES[self.runtime](self.path)
        except ImportError as exc:
            if runtime != "auto" or self.runtime != "openvino":
                raise
            self.openvino_failed = import_failed(exc)
            self.runtime, self.engine = "onnxruntime", OnnxRuntime(self.path)
        note = int8_note(self.spec, self.runtime, self.openvino_failed)
        if note and say:
            say(note)
        elif note:
            log.warning("model_infer: %s", note.removeprefix("note: "))

    def prepare(self, path: str | Path) -> np.ndarray:
        spec = self.spec["input"]
        return prepared(decoded(path, spec["jpeg_draft_min_side"]), spec)

    def probabilities(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A prepared batch (N, 3, S, S) -> calibrated probabilities (N, classes), unknown
        scores (N,)."""
        names = self.spec["outputs"]
        outputs = dict(zip(names, self.engine.run(names, x), strict=True))
        probs = outputs[names[0]]
        if not self.spec["temperature_applied"]:  # the scores the probabilities come from
            probs = softmax(probs, self.spec["temperature"])
        score = outputs.get(self.spec["unknown"]["from"], probs.max(1))  # msp: the top one
        return probs, score

    def answer(self, paths: list, k: int = 5) -> list[dict]:
        """The top ``k`` classes of each photo, whether it looks like none of them, and the
        ``score`` that says so (``objrec predict --json``'s: the familiarity, where a typical
        image of the known classes scores 1 and the run's threshold is 0, or the top
        probability, as the sidecar's ``unknown`` entry says): :meth:`entry`, ``objrec predict
        --json``'s keys, one per path in its order. A photo it cannot read gets the command
        line's entry for it (:func:`unanswered`, with ``error``), not an exception that loses
        every other answer.
        Each photo is decoded and run on its own, so that a list of thousands holds one photo at
        once: run 16 at a time, a default fp32 run's export held 949 MB at the peak in ONNX
        Runtime, against 261 MB one at a time (:meth:`probabilities` runs a batch of them)."""
        return [self.answer_one(path, k) for path in paths]

    def answer_one(self, path: str | Path, k: int) -> dict:
        """:meth:`answer` of one photo."""
        try:
            pixels = self.prepare(path)
        except UNREADABLE as exc:
            return unanswered(path, why_not_read(path, exc))
        probs, scores = self.probabilities(pixels[None])
        return self.entry(path, probs[0], float(scores[0]), k)

    def entry(self, path: str | Path, probs: np.ndarray, score: float, k: int) -> dict:
        """One photo's answer with ``objrec predict --json``'s keys, in its order: ``filename``,
        ``path``, ``answer`` (what to act on: the top class, or "unknown" when ``unknown``),
        ``unknown``, ``score``, ``barely_familiar`` (answered, yet its familiarity under
        :data:`NEAR_LINE` above the threshold; None when the score is no familiarity),
        ``unknown_threshold`` (the sidecar's), ``unknown_threshold_kept_on`` (when that is the
        one ``evaluate --keep-threshold`` kept with the run, when it was kept), ``topk``,
        ``confused_with`` (None: the export carries no evaluation)."""
        spec, classes = self.spec["unknown"], self.spec["classes"]
        threshold = spec["threshold"]
        unknown = threshold is not None and score < threshold
        familiar = threshold is not None and spec["score"] != "msp" and bool(spec.get("scale"))
        order = np.argsort(-probs, kind="stable")[:k]  # a tie in class order, as objrec's
        top = [{"class": classes[i], "prob": float(probs[i])} for i in order]
        return {
            "filename": base_name(path),
            "path": str(path),
            "answer": UNKNOWN if unknown else top[0]["class"],
            "unknown": unknown,
            "score": score,
            "barely_familiar": (not unknown and score < threshold + NEAR_LINE)
            if familiar
            else None,
            "unknown_threshold": threshold,
            "unknown_threshold_kept_on": spec.get("threshold_kept_on"),
            "topk": top,
            "confused_with": None,
        }


AGREES = 1e-3
"""The largest difference of a probability, and of the unknown score, at which export takes the
file's answers for objrec's (its ``PHOTO_TOLERANCE`` and ``SCORE_TOLERANCE``)."""


def int8_note(spec: dict, runtime: str = "onnxruntime", openvino_failed: str = "") -> str | None:
    """One line for a model whose int8 network objrec ran in OpenVINO, run by ``runtime``
    (``onnxruntime``: the script's choice where openvino is not installed or cannot be imported,
    as ``openvino_failed`` says why, or ``--runtime``'s): ONNX Runtime answers otherwise, by as
    much as export measured on the photos it checked (the largest gap there, which other
    photos exceed: 0.018 on export's 32 photos, 0.043 in a top probability on a newcomer's 80
    field photos, so it is said as no bound), and OpenVINO gives objrec's answers. Nothing where
    export measured ONNX Runtime giving objrec's answers (within :data:`AGREES`, no top class
    changed). The line
    is read by whoever runs the script, often not whoever trained the model (a student given a
    teacher's export): it says what each of them can do. The other way round, see
    :func:`openvino_note`."""
    if spec.get("int8_engine") == "onnxruntime" and runtime == "openvino":
        return openvino_note(spec)
    if spec.get("int8_engine") != "openvino" or runtime != "onnxruntime":
        return None
    checked = spec.get("answers_checked", {}).get("onnxruntime", {})
    if checked and agrees(checked):
        return None
    apart = "a little"
    if checked and checked.get("photos"):  # a sample's largest, not a bound (newcomer61)
        changed = checked.get("top_class_changed")
        apart = f"up to {checked['max_prob_diff']:.2g} on the {checked['photos']} photos export "
        apart += "checked" if changed is None else f"checked (the top class changed on {changed})"
        apart += ", and by more on some other photos"
    get = (
        f"openvino is installed, but {openvino_failed}: repair it (`pip install --force-reinstall "
        "openvino`)"
        if openvino_failed
        else "`pip install openvino`"
    )
    return (
        f"note: this model's network is int8, and objrec ran it in OpenVINO: in ONNX Runtime its "
        f"probabilities differ from objrec's by {apart}; {get} and this script "
        "runs it in OpenVINO, with objrec's answers (or whoever trained the model can train it "
        "with --precision fp32 and export it again for objrec's answers in any runtime)"
    )


def openvino_note(spec: dict) -> str | None:
    """One line for a model whose int8 network objrec ran in ONNX Runtime, run in OpenVINO
    (``--runtime openvino``; ``auto`` picks ONNX Runtime for it): OpenVINO rounds an int8
    network otherwise, by as much as no export measures (its check runs such a body in ONNX
    Runtime only), so the line says the answers may differ, and what gives objrec's. Nothing
    where export did measure OpenVINO giving objrec's answers."""
    checked = spec.get("answers_checked", {}).get("openvino", {})
    if checked and agrees(checked):
        return None
    return (
        "note: this model's network is int8, and objrec ran it in ONNX Runtime: in OpenVINO its "
        "probabilities may differ from objrec's a little (not measured); --runtime onnxruntime "
        "gives objrec's answers"
    )


def agrees(checked: dict) -> bool:
    """Whether export's check of a runtime (the sidecar's ``answers_checked`` entry) found it
    giving objrec's answers: every probability and unknown score within :data:`AGREES`, no top
    class changed."""
    return (
        checked.get("max_prob_diff", 1.0) <= AGREES
        and checked.get("max_score_diff", 0.0) <= AGREES
        and not checked.get("top_class_changed")
    )


# ---------------- predict's words: a photo not read, an answer's line, the threshold, the tally


UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
"""What Pillow raises for a photo it cannot read (missing, damaged, not an image), or will not
(too many pixels to decode safely: not an ``OSError``; :func:`refuse_over`'s too), as objrec's
``open_image`` catches."""


def unanswered(path: str | Path, error: str) -> dict:
    """The entry of an input given no answer (a photo not read, a folder without images), as
    ``objrec predict --json`` gives it: ``filename``, ``path``, every key of an answer null (no
    ``topk``), and the ``error``."""
    return {
        "filename": base_name(path),
        "path": str(path),
        "answer": None,
        **dict.fromkeys(["unknown", "score", "barely_familiar", "unknown_threshold"]),
        "unknown_threshold_kept_on": None,
        "topk": [],
        "confused_with": None,
        "error": error,
    }


def why_not_read(path: str | Path, exc: BaseException) -> str:
    """Why the photo at ``path`` was not read (``exc``, one of :data:`UNREADABLE`), in the words
    ``objrec predict`` gives for the same file (:data:`ERRORS`)."""
    if isinstance(exc, OverLimit):
        return str(exc)
    if isinstance(exc, FileNotFoundError) and not Path(path).exists():  # as the command line
        target = os.readlink(path) if Path(path).is_symlink() else None
        return ERRORS["broken_link"].format(target=target) if target else ERRORS["missing"]
    if isinstance(exc, Image.DecompressionBombError):  # Pillow's own guard, from the header
        return f"{bomb_reason(exc, pixel_limit())}: {ERRORS['too_large_hint']}"
    head = first_bytes(path)
    kind = heif_kind(head)
    if head == b"":
        reason = ERRORS["empty"]
    elif isinstance(exc, UnidentifiedImageError) and kind:
        reason = heif_reason(kind)
    elif isinstance(exc, UnidentifiedImageError):
        reason = ERRORS["not_image"]
    elif TRUNCATED.match(str(exc).strip()):
        reason = ERRORS["truncated"]
    elif str(exc).strip() == WEBP_CUT and head and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        reason = ERRORS["webp_cut"]
    else:
        reason = str(exc).strip() or type(exc).__name__
    return ERRORS["cannot_read"].format(reason=reason)


def heif_reason(kind: str) -> str:
    """Why a HEIC, HEIF or AVIF photo was not read: no decoder for it here (HEIC needs
    pillow-heif, AVIF a recent Pillow), or, with one, a file it cannot read."""
    Image.init()
    if ("AVIF" if kind == "AVIF" else "HEIF") in Image.ID:  # pillow-heif registers HEIF
        return ERRORS["heif_unreadable"].format(a="an" if kind == "AVIF" else "a", kind=kind)
    return ERRORS["avif_no_decoder" if kind == "AVIF" else "heif_no_decoder"].format(kind=kind)


def base_name(path: str | Path) -> str:
    """The last part of ``path``, split at either slash: ``objrec predict --json``'s
    ``filename``."""
    return PureWindowsPath(str(path)).name or str(path)


def text(answer: dict) -> str:
    """A photo's line, in ``objrec predict``'s words: ``photo.jpg: unknown, unlike the photos the
    model learned from; if it is one of its classes: crab 61.00%, lobster 39.00% (familiarity
    -0.21)`` (the probabilities are shared among the classes taught; "like none of the classes"
    where the score is no familiarity), its top classes as :func:`top_text` gives them, and a
    photo answered though barely familiar marked so."""
    familiar = answer.get("barely_familiar") is not None
    why = "unlike the photos the model learned from" if familiar else "like none of the classes"
    unknown = f"unknown, {why}; if it is one of its classes: " if answer["unknown"] else ""
    note = familiarity_words(answer)
    return f"{printed(answer['path'])}: {unknown}{top_text(answer['topk'])}" + (
        f" ({note})" if note else ""
    )


def quoted(name: str) -> str:
    """A class name as a list says it, in double quotes when it holds a comma or a semicolon, a
    space at either end, a leading quote (objrec's ``words.quoted``)."""
    plain = name == name.strip() and not name.startswith('"')
    if name and plain and "," not in name and ";" not in name:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def top_text(topk: list[dict]) -> str:
    """The top classes as ``objrec predict`` prints them: the first always, then those whose
    probability shows as more than 0.00%, the others counted (``and 3 more classes under
    0.005%``); each name :func:`printed`, as a file's is (a model's class named with ESC
    coloured or cleared the terminal)."""
    shown_ = [t for i, t in enumerate(topk) if i == 0 or f"{t['prob']:.2%}" != f"{0:.2%}"]
    line = ", ".join(f"{printed(quoted(t['class']))} {t['prob']:.2%}" for t in shown_)
    hidden = len(topk) - len(shown_)
    more = "1 more class" if hidden == 1 else f"{hidden:,} more classes"
    return line + (f", and {more} under 0.005%" if hidden else "")


def familiarity_words(answer: dict) -> str:
    """``familiarity -0.21`` for a photo answered unknown, ``barely familiar: 0.02`` for one
    answered within :data:`NEAR_LINE` of the threshold, as ``objrec predict`` says them; "" when
    the score is no familiarity, or the photo is neither."""
    threshold = answer.get("unknown_threshold")
    if answer.get("barely_familiar") is None or threshold is None:
        return ""
    score = score_text(answer["score"], threshold)
    if answer["unknown"]:
        return f"familiarity {score}"
    return f"barely familiar: {score}" if answer["barely_familiar"] else ""


def score_text(score: float, line: float) -> str:
    """A familiarity to two decimals, or to as many as tell it from the threshold ``line``
    (``0.0004`` above ``0``), as ``objrec predict`` prints it."""
    shown_, at = f"{score:.2f}", f"{line:.3g}"
    if score == line or (
        float(shown_) != float(at) and (float(shown_) < float(at)) == (score < line)
    ):
        return shown_
    for decimals in range(2, 9):  # rounding keeps the order, once the two differ
        shown_, at = f"{score:.{decimals}f}", f"{line:.{decimals}f}"
        if float(shown_) != float(at):
            break
    return shown_


def on_lines(text: str, width: int = 96) -> str:
    """``text`` on lines a terminal of 100 columns shows whole, the later ones indented, as
    ``objrec predict`` prints its threshold line (a copy of ``words.on_lines``)."""
    import textwrap

    lines = textwrap.wrap(
        text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines)


def threshold_sentence(spec: dict) -> str:
    """The threshold that judged the photos, said once under their lines as ``objrec predict``
    says it: on what score, and whose (the run's own, one kept with the run, or export's
    ``--threshold``, which may equal the run's own: said once, after it); "" for a sidecar
    without one. A sidecar from before ``threshold_given``: given when not the run's own."""
    unknown = spec.get("unknown") or {}
    threshold = unknown.get("threshold")
    if threshold is None:
        return ""
    value = f"{threshold:g}" if float(f"{threshold:g}") == threshold else repr(threshold)
    if unknown["score"] == "msp":
        what = f"a top probability of {value}"
    elif unknown.get("scale"):
        what = f"familiarity {value} ({typical_image(unknown.get('scaled_on'))} scores 1)"
    else:
        what = f"score {value} ({unknown['score']})"
    own = threshold == unknown.get("run_threshold", threshold)
    rests = resting_words(unknown.get("validation_images"))
    if unknown.get("threshold_given") == "here":  # this script's --threshold
        whose = "given with --threshold"
    elif unknown.get("threshold_kept_on"):
        whose = f"kept from evaluate --unknown on {unknown['threshold_kept_on'][:10]}"
    elif unknown.get("threshold_given", not own):
        whose = "given with export --threshold" + (f", the run's own{rests}" if own else "")
    else:
        whose = f"the run's own threshold{rests}"
    return f"unknown below {what}: {whose}"


FEWEST_FOR_A_THRESHOLD = 100
"""Under this many validation images the run's threshold is shaky, as objrec says it."""


def typical_image(scaled_on: str | None) -> str:
    """What a familiarity of 1 is, in words, as objrec says it: a typical image of the set the
    run scaled it on (the sidecar's ``scaled_on``: its validation images, or its training images
    where those gave no spread of scores; a sidecar that does not say: validation)."""
    return f"a typical {scaled_on or 'validation'} image"


def resting_words(n: int | None) -> str:
    """``, chosen on 512 validation images``, and under :data:`FEWEST_FOR_A_THRESHOLD` that it is
    shaky, in a clause, as ``objrec predict`` says it; "" when the sidecar does not say."""
    if n is None:
        return ""
    images = f"{n:,} validation image" + ("" if n == 1 else "s")
    if n >= FEWEST_FOR_A_THRESHOLD:
        return f", chosen on {images}"
    return f", chosen on only {images} (under {FEWEST_FOR_A_THRESHOLD}: shaky)"


TALLY_FROM = 2
"""How many photos answered make the lines end with a tally, as objrec predict's do."""


def tally(answers: list[dict]) -> dict[str, int]:
    """How many photos got each ``answer``: the classes, most first (ties in name order), then
    "unknown" whenever a threshold judged them, even at 0; photos not read are not counted."""
    answered = [a for a in answers if a.get("answer") is not None]
    counts: dict[str, int] = {}
    for a in answered:
        if not a["unknown"]:
            counts[a["answer"]] = counts.get(a["answer"], 0) + 1
    tallied = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    if any(a.get("unknown_threshold") is not None for a in answered):
        tallied[UNKNOWN] = sum(bool(a["unknown"]) for a in answered)
    return tallied


def tally_lines(answers: list[dict]) -> list[str]:
    """The lines under the photos' lines, in objrec predict's words: how many photos went to
    each class (how many of them barely familiar), and how many were like none of the classes."""
    counts = tally(answers)
    total = sum(counts.values())
    if total < TALLY_FROM:
        return []
    barely: dict[str, int] = {}
    for a in answers:
        if a.get("barely_familiar"):
            barely[a["answer"]] = barely.get(a["answer"], 0) + 1
    width, digits = max(len(printed(a)) for a in counts), len(str(max(counts.values())))
    lines = [f"{total:,} images answered:"]
    for answer, n in counts.items():
        note = f" ({barely[answer]} barely familiar)" if barely.get(answer) else ""
        note = " (like none of the classes)" if answer == UNKNOWN else note
        lines.append(f"  {printed(answer):<{width}}  {n:>{digits}}{note}")
    return lines


# ---------------------------------------------- a name printed as objrec prints it, on one line


def shown(path: str | Path) -> str:
    """``path`` as text any UTF-8 output holds: each byte of a name that is not UTF-8 (an old
    zip's Latin-1 ``caf\\xe9``) escaped, as objrec prints it."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""The control characters a terminal acts on (ESC, CR...) but tab and newline, and the bidi
overrides that show a name reversed, as objrec's."""


def printed(path: str | Path) -> str:
    """``path`` as a line of the answers shows it, as objrec prints it: :func:`shown`, each
    control character a terminal acts on (ESC: a name that colours or clears the terminal) or a
    bidi override escaped as ``\\x1b`` or ``\\u202e``, and a newline as ``\\n``, so that one
    photo's answer is one line."""
    text = CONTROL_CHARACTERS.sub(escaped_character, shown(path))
    return text.replace("\n", "\\n")


def escaped_character(found: re.Match[str]) -> str:
    """The character ``found`` as Python writes it in a string: ``\\x1b``, ``\\u202e``."""
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# ----------------------------- what it is given: files and folders listed as predict lists them


IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
    | {".pgm", ".heic", ".heif", ".avif"}
)
"""The images a folder given is read for, by extension, as objrec reads a folder."""
IMAGE_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)
"""How a JPEG, PNG, GIF, BMP or TIFF file starts: a file with no extension is read when it starts
so (or as a WebP or HEIF file does), as objrec reads a folder (Caltech-101 ships such a JPEG)."""


SYSTEM_FOLDERS = frozenset({"@eaDir", "__MACOSX"})
"""Folders never read, as objrec leaves them out: macOS's zip metadata, a Synology server's
thumbnails (smaller copies of the photos). Written in by export from objrec's own lists, as
the two below are."""
SYSTEM_FILES = frozenset({"desktop.ini", "ehthumbs.db", "ehthumbs_vista.db", "thumbs.db"})
"""Files Windows puts beside photos (thumbnail caches, a folder's settings), by their names in
lower case: never listed nor warned of, as objrec predict lists a folder."""
ZONE_MARK = ":Zone.Identifier"
"""The end of the name of Windows' "downloaded from the Internet" mark beside a photo copied
into WSL (``IMG_1.jpg:Zone.Identifier``): never listed nor warned of."""


def is_hidden(path: Path) -> bool:
    """Whether objrec leaves ``path`` out of a folder's listing unsaid: a name starting with
    ".", one of :data:`SYSTEM_FOLDERS` or :data:`SYSTEM_FILES`, or a :data:`ZONE_MARK`'s."""
    name = path.name
    return (
        name.startswith(".")
        or name in SYSTEM_FOLDERS
        or name.lower() in SYSTEM_FILES
        or name.endswith(ZONE_MARK)
    )


def photo_paths(given: list[str]) -> list[tuple[str, str]]:
    """The inputs to answer, each with "" or why it gets no answer, as ``objrec predict`` says
    it: files as given (one not there, a link to nothing, a file of another extension: not
    read), a folder's images below it in name order (:func:`images_below`), a folder that holds
    none."""
    inputs = []
    for name in given:
        path = Path(name)
        if path.is_dir():
            others: list[Path] = []
            found = images_below(path, others=others)
            warn_not_images(others)
            inputs += [(str(p), error) for p, error in found] or [(name, ERRORS["no_images"])]
        elif not path.is_file():
            target = os.readlink(path) if path.is_symlink() else None
            error = ERRORS["broken_link"].format(target=target) if target else ERRORS["missing"]
            inputs.append((name, error))
        elif path.suffix and path.suffix.lower() not in IMAGE_EXTENSIONS:
            inputs.append((name, ERRORS["not_image_file"].format(suffix=path.suffix)))
        else:
            inputs.append((name, ""))
    return first_of_each(inputs)


def first_of_each(inputs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``inputs`` without repeats of a photo (``x/a.jpg`` given alone and found again in the
    folder ``x``), each where it came first, as ``objrec predict`` answers it once."""
    seen, unique = set(), []
    for path, error in inputs:
        absolute = os.path.abspath(path)
        key = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
        if key not in seen:
            seen.add(key)
            unique.append((path, error))
    return unique


def images_below(
    folder: Path, above: frozenset[str] = frozenset(), others: list[Path] | None = None
) -> list[tuple[Path, str]]:
    """The images below ``folder`` as objrec lists a folder, each with "": sub-folders and links
    to folders followed (not a link back to a folder above it), the names objrec leaves out
    (:func:`is_hidden`) left out unsaid, each folder's entries in name order; a folder it may not
    read, and a link named as an image whose target is gone, with why (the first ended the call
    in a traceback, the second was left out unsaid). Its other files, and links to nothing,
    go into ``others``."""
    above = above | {os.path.realpath(folder)}
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        return [(folder, f"not read: {exc}")]
    found = []
    for path in entries:
        if is_hidden(path):
            continue
        if path.is_dir():
            real = os.path.realpath(path)
            if not any(a == real or a.startswith(real.rstrip(os.sep) + os.sep) for a in above):
                found += images_below(path, above, others)
        elif is_image(path):
            found.append((path, ""))
        elif path.is_symlink() and not path.exists() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append((path, ERRORS["broken_link"].format(target=os.readlink(path))))
        elif others is not None and (path.is_file() or path.is_symlink()):
            others.append(path)  # a link to nothing too: warned of as such
    return found


NAMED = 10
"""A warning names at most this many files, then counts the rest (objrec's ``words.NAMED``)."""


def warn_not_images(others: list[Path]) -> None:
    """One warning on stderr naming a folder's files left out as not images, in objrec
    predict's words (its first :data:`NAMED`, then a count): a folder's notes.txt, or a camera's
    .CR2 files beside its JPEGs, were left out of the answers and the table without a word. And
    one naming its links to nothing (notes.txt moved since it was linked), as predict does."""
    files = [path for path in others if path.exists()]
    broken = [path for path in others if not path.exists()]
    if files:
        what = "an image file" if len(files) == 1 else "image files"
        print(f"warning: {named(files)} left out: not {what} objrec reads", file=sys.stderr)
    if broken:
        what = "a link to a file that is" if len(broken) == 1 else "links to files that are"
        print(f"warning: {named(broken)} left out: {what} not there", file=sys.stderr)


def named(paths: list[Path]) -> str:
    """``paths`` for a warning, each quoted where objrec quotes it: the first :data:`NAMED`,
    then a count."""
    names = [quoted(str(path)) for path in paths]
    shown = ", ".join(names if len(names) <= NAMED + 1 else names[:NAMED])
    shown += f" and {len(names) - NAMED:,} more" if len(names) > NAMED + 1 else ""
    return printed(shown)


def is_image(path: Path) -> bool:
    """A file with an image extension, or with none and an image's first bytes, as objrec
    reads a folder."""
    if not path.is_file():
        return False
    if path.suffix:
        return path.suffix.lower() in IMAGE_EXTENSIONS
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return head.startswith(IMAGE_MAGIC) or webp or heif_kind(head) is not None


# ----------------------------------------------- the table of --csv, as predict --csv writes it


CSV_COLUMNS = (
    *("filename", "path", "answer", "predicted", "prob_predicted", "unknown", "barely_familiar"),
    *("score", "unknown_threshold", "unknown_threshold_kept_on"),
)
"""The first columns of ``--csv``'s table, as ``objrec predict --csv`` names them; ``class_1``,
``prob_1`` ... follow, then ``error`` (why an input got no answer: a photo not read, a folder
without images)."""


def csv_row(answer: dict) -> dict:
    """One row of ``--csv``'s table: ``answer`` is the answer's, the class or "unknown"."""
    path = answer["path"]
    row: dict[str, object] = {"filename": shown(base_name(path)), "path": shown(path)}
    row["error"] = shown(answer.get("error", ""))  # an OSError's words may name the file
    if row["error"]:
        return row
    top = answer["topk"][0]
    row |= {"answer": answer["answer"]}
    row |= {"predicted": top["class"], "prob_predicted": top["prob"]}
    row |= {"unknown": answer["unknown"], "barely_familiar": answer.get("barely_familiar")}
    row |= {"score": answer["score"], "unknown_threshold": answer.get("unknown_threshold")}
    row |= {"unknown_threshold_kept_on": answer.get("unknown_threshold_kept_on")}
    for i, t in enumerate(answer["topk"], start=1):
        row[f"class_{i}"], row[f"prob_{i}"] = t["class"], t["prob"]
    return row


def cell(value: object) -> object:
    """A text a spreadsheet would take for a formula (a file named ``=cmd.jpg``) with a ``'``
    before it, as objrec writes its CSVs."""
    if isinstance(value, str) and value.lstrip("'").startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


def write_csv(answers: list[dict], path: str) -> None:
    """The table of ``answers``, one row per input, in UTF-8 with the mark Excel reads it by; as
    many ``class_N``, ``prob_N`` as the longest answer's top classes, as ``predict --csv``; the
    folders missing on the way to it made first (:func:`cannot_write` checked they can be)."""
    k = max((len(a["topk"]) for a in answers if "topk" in a), default=0)
    tops = [f"{what}_{i}" for i in range(1, k + 1) for what in ("class", "prob")]
    os.makedirs(landing(path).parent, exist_ok=True)  # as objrec makes its outputs' folders
    with open(landing(path), "x", newline="", encoding="utf-8-sig") as f:
        writer = csv.DictWriter(f, [*CSV_COLUMNS, *tops, "error"], restval="")
        writer.writeheader()
        writer.writerows({key: cell(v) for key, v in csv_row(a).items()} for a in answers)


# --------------------------------------------------- every photo answered, and the command line


FAILED_NAMED = 3
"""The most inputs not answered that ``--csv`` names on stderr, as ``objrec predict --csv``: the
table has every one, with its reason."""

ANSWERS_SHOWN = 10
"""The most answers ``--csv`` prints a line each for, past :data:`ANSWERS_ALL`, as ``objrec
predict --csv``: its table has every one (5,000 photos scrolled 5,000 lines past), and the lines
show what it said, those most worth a look (:func:`worth_a_look`)."""

ANSWERS_ALL = 20
"""Up to this many answers ``--csv`` prints every one, as ``objrec predict --csv``."""

PROGRESS_SECONDS = 10.0
"""How often a line says how far the answers got when no line per photo does (``--csv`` past
its first :data:`ANSWERS_SHOWN`, ``--json``)."""


def answer_all(
    model: Model, inputs: list[tuple[str, str]], k: int, quiet: bool, table: str | None = None
) -> list[dict]:
    """Each input's answer (:func:`photo_paths`), printed as it comes unless ``quiet`` (with
    ``table``, ``--csv``, those :func:`shown_answers` chooses, once all are answered: the table
    has them all, and a line
    every :data:`PROGRESS_SECONDS` on stderr says how far they got, as objrec predict's progress
    bar, as progress: "answered 1 of 8 inputs", its last, read as the result; and the lines end
    with how many more it holds); one not answered (not read, a folder
    without images) is named on stderr (with ``table``, the first :data:`FAILED_NAMED`), and its
    answer is its ``path``, a null ``answer``, no ``topk`` and the ``error``, as ``objrec
    predict --json``'s."""
    answers: list[dict] = []
    lines = 0 if quiet or table else len(inputs)  # answers printed as they come
    said = time.monotonic()
    for path, why_none in inputs:  # why photo_paths found no photo there ("" for a photo)
        (answer,) = [unanswered(path, why_none)] if why_none else model.answer([path], k)
        error = answer.get("error")
        if error:
            failed = sum(bool(a.get("error")) for a in answers)
            if not table or failed < FAILED_NAMED:
                print(f"{printed(path)}: {error}", file=sys.stderr)
        answers.append(answer)
        if not error and lines > 0:
            print(text(answers[-1]))
            lines -= 1
        going = len(answers) < len(inputs)  # the last: the lines that end say what they came to
        if (quiet or table) and going and time.monotonic() - said >= PROGRESS_SECONDS:
            print(f"answering: {len(answers):,} of {len(inputs):,} inputs so far", file=sys.stderr)
            said = time.monotonic()
    if table and not quiet:
        for answer in shown_answers(answers):
            print(text(answer))
        if more := more_line(answers, table):
            print(more)
    return answers


def shown_answers(answers: list[dict]) -> list[dict]:
    """The answers ``--csv`` prints a line for, as ``objrec predict --csv`` chooses them: every
    one up to :data:`ANSWERS_ALL`, in their order, else the :data:`ANSWERS_SHOWN` most worth a
    look (:func:`worth_a_look`). The script printed the first 10 as they came: on the same
    photos as predict it showed other ones (sure cameras, where predict showed the unknowns), and
    the two seemed to disagree (newcomer63)."""
    answered = [a for a in answers if not a.get("error")]
    if len(answered) > ANSWERS_ALL:
        return sorted(answered, key=worth_a_look)[:ANSWERS_SHOWN]
    return answered


def worth_a_look(answer: dict) -> tuple[bool, bool, float]:
    """The order of the answers most worth a look, as objrec predict's: those answered unknown,
    then the barely familiar, then the least sure (lowest top probability); the first inputs
    given among equals."""
    top = float(answer["topk"][0]["prob"]) if answer.get("topk") else 1.0
    return (not answer.get("unknown"), not answer.get("barely_familiar"), top)


def more_line(answers: list[dict], table: str) -> str:
    """How many more answers than the :data:`ANSWERS_SHOWN` printed the ``--csv`` file ``table``
    holds, and which were printed, in objrec predict --csv's words; "" when it holds no more."""
    answered = sum(not a.get("error") for a in answers)
    more = answered - ANSWERS_SHOWN
    if answered <= ANSWERS_ALL or more <= 0:
        return ""
    return shown(
        f"and {more:,} more answer{'' if more == 1 else 's'} in {table} (above, the "
        f"{ANSWERS_SHOWN} most worth a look: those answered unknown, then the barely familiar, "
        "then the least sure)"
    )


def table_sentence(answers: list[dict], path: str) -> str:
    """Where ``--csv`` wrote the answers and what they come to, in objrec predict --csv's words:
    how many photos were given a class (of how many classes, how many barely familiar) and how
    many were said to be unknown."""
    counts = tally(answers)
    unknown = counts.pop(UNKNOWN, None)
    barely = sum(bool(a.get("barely_familiar")) for a in answers if not a.get("error"))
    given = sum(counts.values())
    named = f"{given:,} image{'' if given == 1 else 's'} given a class"
    named += f" ({len(counts):,} classes in all)" if len(counts) > 1 else ""
    named += f", {barely:,} of them barely familiar" if barely else ""
    if unknown is not None:
        named += f"; {unknown:,} said to be unknown (like none of the classes)"
    n = len(answers)
    return f"{n:,} row{'' if n == 1 else 's'} (one per input) written to {path}: {named}"


def failed_sentence(answers: list[dict], table: str | None = None) -> str:
    """How many inputs got no answer, and how many of them were too large to read (their error
    ends with what to do about it), in the words ``objrec predict`` ends with on stderr: "" when
    every input was answered. ``table``: the ``--csv`` file, which has those not named."""
    failed = [a["error"] for a in answers if a.get("error")]
    if not failed:
        return ""
    n = len(answers)
    sentence = f"{len(failed)} of {n:,} input{'' if n == 1 else 's'} could not be predicted"
    if table and len(failed) > FAILED_NAMED:
        sentence += (
            f" (the first {FAILED_NAMED} named above; {table}'s error column has each reason)"
        )
    large = sum(error.endswith(ERRORS["too_large_hint"]) for error in failed)
    if large:
        them = "it" if large == 1 else "them"
        sentence += (
            f"; {large} of them too large to read, over the pixel limit (downscale {them}, or "
            "raise the limit with OBJREC_MAX_PIXELS, docs/folders.md)"
        )
    return sentence


def landing(path: str | Path) -> Path:
    """Where a write to ``path`` lands: its folder absolute, ``..`` and links resolved (``new/..``
    is the folder ``new`` is in, never a folder ``new`` made to be left empty), its name as
    given (a link of that name is refused by the write, never written through)."""
    return Path(os.path.realpath(Path(path).absolute().parent)) / Path(path).name


def cannot_write(path: str | Path) -> str | None:
    """Why the file ``path`` cannot be written, in words, found before any photo is answered: the
    nearest folder on the way to it that is there is a file, or one this user may not write in.
    None where it can: the folders missing on the way are made as it is written
    (:func:`write_csv`), as objrec makes those of its outputs (``predict --csv`` among them)."""
    nearest = landing(path).parent
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        return f"{nearest} is a file, not a folder"
    if not os.access(nearest, os.W_OK | os.X_OK):
        return f"no permission to write in {nearest}"
    return None


def arguments(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "photos", nargs="+", help="image files, or folders of them (sub-folders included)"
    )
    parser.add_argument("--topk", type=int, default=5, help="classes per photo (default 5)")
    parser.add_argument("--json", action="store_true", help="print the answers as JSON")
    parser.add_argument(
        "--csv", metavar="FILE", help="also write the answers as a table, one row per photo"
    )
    parser.add_argument("--model", help=f"the ONNX file (default: {MODEL} beside this script)")
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="say unknown below T instead of model.json's threshold, on the same scale as objrec "
        "predict --threshold (the familiarity: 0 the run's own line, 1 a typical photo; or the "
        "top probability); objrec evaluate --keep SHARE gives the one keeping a share",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="what runs the model. auto (the default): OpenVINO for a model whose int8 network "
        "objrec ran in OpenVINO (a default run's: model.json's int8_engine), where openvino is "
        "installed, which gives objrec's answers; ONNX Runtime otherwise, which gives them for "
        "a model trained in fp32 (an int8 one's differ a little: it says by how much)",
    )
    args = parser.parse_args(argv)
    if args.topk < 1:
        parser.error(f"--topk is {args.topk}: give 1 or more classes per photo")
    if args.csv and os.path.islink(landing(args.csv)):  # one to nothing too: found at the end
        parser.error(f"--csv {args.csv} is a link, which this script never writes through")
    if args.csv and os.path.lexists(landing(args.csv)):
        parser.error(f"--csv {args.csv} exists: give another name, or delete it first")
    if args.csv and cannot_write(args.csv):  # known before any answer
        parser.error(f"--csv {args.csv} cannot be written: {cannot_write(args.csv)}")
    try:
        pixel_limit()
    except ValueError as exc:
        parser.error(str(exc))
    return parser, args


NEEDS = "needs onnxruntime, numpy and Pillow (pip install onnxruntime numpy pillow)"
"""What the script runs with, said in one line when the Python running it lacks one of them (a
venv not activated, another python3), rather than a traceback ending in "No module named 'PIL'"
or, for onnxruntime, "cannot load the model model.onnx: No module named 'onnxruntime'"."""


def openvino_instead(exc: ImportError) -> str:
    """Where onnxruntime failed to import (``exc``) and openvino is installed, that ``--runtime
    openvino`` runs the model: an fp32 export's script, where only openvino was installed,
    stopped saying it lacks onnxruntime, though OpenVINO runs any export."""
    if (exc.name or "").partition(".")[0] != "onnxruntime":
        return ""
    try:
        there = importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # a module of that name set to None, or with no spec
        there = False
    return "; openvino is installed: --runtime openvino runs the model in it" if there else ""


def loaded(
    parser: argparse.ArgumentParser,
    model: str | None,
    runtime: str = "auto",
    threshold: float | None = None,
) -> Model:
    """The model run by ``runtime`` (its note printed on stderr: :func:`int8_note`), with
    ``threshold`` (--threshold's) where given, or the command's end in one line naming what is
    wrong."""
    model_path = Path(model) if model else Path(__file__).with_name(MODEL)
    say = lambda note: print(note, file=sys.stderr)  # noqa: E731
    try:
        return Model(model_path, runtime, say=say, threshold=threshold)
    except ImportError as exc:
        needs = "needs openvino (pip install openvino)" if runtime == "openvino" else NEEDS
        parser.exit(2, f"{parser.prog}: {needs}, and {import_failed(exc)}{openvino_instead(exc)}\n")
    except FileNotFoundError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    except ValueError as exc:
        if str(exc).startswith("--threshold"):  # given_threshold's, not the sidecar's
            parser.exit(2, f"{parser.prog}: {exc}\n")
        parser.exit(2, f"{parser.prog}: cannot load the model {model_path}: {exc}\n")
    except Exception as exc:  # onnxruntime's errors are no OSError; a sidecar that is no JSON
        parser.exit(2, f"{parser.prog}: cannot load the model {model_path}: {exc}\n")


def escape_unencodable() -> None:
    """stdout and stderr write a character their encoding lacks escaped (``\\u65e5``) instead of
    raising: a class ``日本の鳥`` ended the script in a UnicodeEncodeError, no answer and no
    --csv, where the output is cp1252 or cp932 (Windows' output redirected to a file) or ASCII,
    as objrec's own commands escape it."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # None: no stream, or not a text file
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # a closed stream: nothing to write
                reconfigure(errors="backslashreplace")


def legacy_names_note() -> str:
    """The note for a Python that reads file names in another encoding than UTF-8 (a legacy
    locale's, ``fr_FR.ISO-8859-1``): a UTF-8 ``café.jpg`` then reads, and is printed and
    written, as ``cafÃ©.jpg`` (its answer is right). "" under UTF-8. objrec warns the same."""
    encoding = sys.getfilesystemencoding()
    if codecs.lookup(encoding).name == "utf-8":
        return ""
    garbled = "caf\u00e9".encode().decode(encoding, "replace")
    return (
        f"note: this Python reads file names as {encoding} (its locale's encoding), where most "
        f"disks name them in UTF-8: a photo caf\u00e9.jpg is named {garbled}.jpg in the answers; "
        "run the script with PYTHONUTF8=1 (export PYTHONUTF8=1)"
    )


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program's own streams, not a caller's (model_infer.main([...]))
        escape_unencodable()
        if legacy_names_note():
            print(legacy_names_note(), file=sys.stderr)
    parser, args = arguments(argv)
    if python_too_old():
        parser.exit(2, f"{parser.prog}: {python_too_old()}\n")
    # the script refuses, as objrec does, what Pillow only warns about (refuse_over)
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    inputs = photo_paths(args.photos)
    model = loaded(parser, args.model, args.runtime, args.threshold)
    answers = answer_all(model, inputs, args.topk, quiet=args.json, table=args.csv)
    judged = any(a.get("unknown") or a.get("barely_familiar") for a in answers)
    if judged and not args.json and threshold_sentence(model.spec):  # once, as predict says it
        print(on_lines(threshold_sentence(model.spec)), file=sys.stderr)  # a note
    for line in [] if args.json or args.csv else tally_lines(answers):
        print(shown(line))
    if args.json:  # every input, as objrec predict --json lists them
        print(json.dumps(answers, indent=2))
    if args.csv:  # its line on stdout, as predict --csv's, but beside --json's answers
        write_csv(answers, args.csv)
        print(shown(table_sentence(answers, args.csv)), file=sys.stderr if args.json else None)
    failed = failed_sentence(answers, None if args.json else args.csv)
    if failed:  # last, as objrec predict ends with it, and exits with 1 as it does
        print(failed, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
