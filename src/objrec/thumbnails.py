"""Small JPEG copies of images as ``data:`` URIs, embedded in the pages objrec writes (the report,
the audit's page, suggest's page): one way to shrink and encode them for every page."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from objrec.images import UnreadableImageError, open_image

QUALITY = 82
"""The JPEG quality of a thumbnail: small enough to embed hundreds in one page."""


def embed_image(image: Image.Image, size: int) -> str:
    """``image`` shrunk to fit ``size`` by ``size`` as a JPEG ``data:`` URI; ``image`` itself is
    left as it is (a caller may draw it again)."""
    return _jpeg_uri(image.copy(), size)


def thumbnail(path: str | Path, size: int) -> str | None:
    """The image file at ``path`` as :func:`embed_image` writes it, decoded at the smallest JPEG
    reduction that still covers ``size``; None when it cannot be read."""
    try:
        image = open_image(path, draft_size=size)
    except UnreadableImageError:
        return None
    return _jpeg_uri(image, size)


def _jpeg_uri(image: Image.Image, size: int) -> str:
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=QUALITY)
    return f"data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()}"
