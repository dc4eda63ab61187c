import base64
import io

from PIL import Image

from objrec.thumbnails import embed_image, thumbnail


def jpeg_of(uri: str) -> Image.Image:
    head, data = uri.split(",", 1)
    assert head == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_one_thumbnail_for_every_page_a_jpeg_within_its_size_or_none(tmp_path):
    """The report, the audit's page and suggest's page embed an image one way: a JPEG that fits
    the page's size (an RGBA or grey PNG too), None for a file that cannot be read, and the
    caller's image left as it is."""
    wide, grey = tmp_path / "wide.png", tmp_path / "grey.png"
    Image.new("RGBA", (400, 100), (255, 0, 0, 128)).save(wide)
    Image.new("L", (90, 120), 40).save(grey)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert jpeg_of(thumbnail(wide, 150)).size == (150, 38)
    assert jpeg_of(thumbnail(str(grey), 160)).size == (90, 120)  # never enlarged
    assert thumbnail(tmp_path / "broken.jpg", 150) is None
    image = Image.new("RGB", (300, 300), "blue")
    shown = jpeg_of(embed_image(image, 96))
    assert shown.size == (96, 96) and shown.mode == "RGB" and image.size == (300, 300)
