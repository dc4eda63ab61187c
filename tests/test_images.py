import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from objrec import images, warned
from objrec.file_index import hash_file
from objrec.image_facts import all_facts
from objrec.images import UnreadableImageError, image_size, open_image
from objrec.listing import is_image_file, list_images

from .conftest import EPS, fake_ghostscript, make_image, make_large_image, save_heic


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "1"])
def test_every_mode_opens_as_rgb(tmp_path, mode):
    path = tmp_path / "x.tiff"
    img = make_image((120, 80, 40))
    img = img.convert("L").convert("I;16") if mode == "I;16" else img.convert(mode)
    img.save(path)
    out = open_image(path)
    assert out.mode == "RGB" and out.size == (40, 32)


def test_sixteen_bit_keeps_its_range(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(path)
    assert np.asarray(open_image(path)).min() == 255


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    make_image((10, 10, 10), size=(40, 20)).save(path, exif=exif)
    assert open_image(path).size == (20, 40)
    assert image_size(path) == (20, 40)
    from PIL import ImageOps  # turned in place: the same pixels as Pillow's turned copy

    turned = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    assert np.array_equal(np.asarray(open_image(path)), np.asarray(turned))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_an_image_s_pixels_are_held_once_while_it_is_opened(tmp_path):
    """open_image held each image twice: Pillow's exif_transpose returns a copy of an image it
    need not turn. A 48-megapixel PNG took 0.68 GB to open for its 0.36 GB of pixels (Pillow
    keeps RGB in 4 bytes), which serve, now reading uploads up to objrec's own pixel limit, did
    four at once. Measured in a new process: the peak memory it grew by while opening one."""
    import subprocess
    import sys

    Image.new("RGB", (4000, 4000), (10, 20, 30)).save(tmp_path / "big.png")  # 0.2 MB
    Image.new("RGB", (40, 40), (10, 20, 30)).save(tmp_path / "small.png")
    code = """
import re, sys
from pathlib import Path
from objrec.images import open_image
def peak():  # VmHWM: getrusage's ru_maxrss keeps the parent's (pytest's) peak across exec
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024
open_image(sys.argv[2])  # what the first open imports, before the measure
before = peak()
image = open_image(sys.argv[1])
print(peak() - before)
"""
    args = [sys.executable, "-c", code, str(tmp_path / "big.png"), str(tmp_path / "small.png")]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pixels = 4000 * 4000 * 4  # 64 MB as Pillow holds RGB
    assert int(done.stdout) < 1.5 * pixels


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am text", b"\xff\xd8\xff\xe0" + b"\x00" * 50],
    ids=["empty", "text", "jpeg-header-only"],
)
def test_undecodable_files_raise_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(UnreadableImageError, match=r"bad\.jpg"):
        open_image(path)


def test_a_postscript_file_in_a_folder_is_refused_without_running_ghostscript(
    tmp_path, monkeypatch
):
    """A ``.jpg`` (or extensionless file) that is PostScript was handed to Ghostscript, by path
    and as the bytes the frozen pass reads; a failing Ghostscript then stopped the command."""
    ran = fake_ghostscript(tmp_path, monkeypatch)
    path = tmp_path / "photo.jpg"
    path.write_bytes(EPS)
    for source, from_file in ((path, False), (EPS, True)):
        with pytest.raises(UnreadableImageError, match="not a recognised image format"):
            open_image(source, name=str(path), from_file=from_file)
    assert not ran.exists(), ran.read_text()


def test_truncated_jpeg_is_refused(tmp_path):
    buffer = io.BytesIO()
    make_image((50, 50, 50), size=(64, 64)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(UnreadableImageError):
        open_image(path)


def test_a_webp_file_cut_short_is_said_to_be_cut_short_in_objrec_s_words(tmp_path):
    """review63a L3: a WebP cut short was "cannot read image (could not create decoder object)",
    Pillow's words, where a cut JPEG, PNG, GIF, TIFF or BMP is said to be truncated. Said in
    objrec's words now, by path and from its bytes, its pixels or its header cut."""
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "WEBP")
    whole = buffer.getvalue()
    said = f"cannot read image ({images.IMAGE_ERRORS['webp_cut']})"
    for cut in (len(whole) * 6 // 10, 20):
        path = tmp_path / f"cut{cut}.webp"
        path.write_bytes(whole[:cut])
        for source in (path, whole[:cut]):
            with pytest.raises(UnreadableImageError) as refused:
                open_image(source, name=str(path))
            assert str(refused.value) == f"{path}: {said}"


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "BMP"])
def test_a_file_cut_short_is_said_to_be_truncated_in_objrec_s_words(tmp_path, kind):
    """An archivist's JPEG cut at 60% of its bytes was "cannot read image (image file is
    truncated (11 bytes not processed))", Pillow's words: a file lacking 40% of its bytes sounded
    a small matter. Said in objrec's words, with the file's name, by path and from its bytes (the
    frozen pass, an upload), a header cut short ("Truncated File Read") too."""
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, kind)
    whole = buffer.getvalue()
    said = f"cannot read image ({images.IMAGE_ERRORS['truncated']})"
    for cut in (len(whole) * 6 // 10, 60):  # the pixels, and the header, cut short
        path = tmp_path / f"cut{cut}.{kind.lower()}"
        path.write_bytes(whole[:cut])
        for source, from_file in ((path, False), (path.read_bytes(), True), (whole[:cut], False)):
            with pytest.raises(UnreadableImageError) as refused:
                open_image(source, name=str(path), from_file=from_file)
            assert str(refused.value) == f"{path}: {said}"


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (200, 200)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    with pytest.raises(UnreadableImageError, match="over the limit"):
        open_image(path)


def png_header(width: int, height: int) -> bytes:
    """A PNG that is only its header (and one small IDAT): ``width`` x ``height`` to Pillow."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(bytes(100)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


def test_an_image_over_pillow_s_own_guard_is_refused_in_objrec_s_words_once(tmp_path):
    """review2-46 finding 5: an image over twice Pillow's limit got Pillow's sentence ("Image
    size (2500000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb DOS
    attack.") beside objrec's limit: two limits, and "DOS attack" said to whoever sent a large
    scan. Its pixels over objrec's limit, once, as for an image under Pillow's guard; serve's
    413 says its own limit once."""
    from objrec.serve.uploads import too_many_pixels_text

    huge = png_header(50_000, 50_000)
    (tmp_path / "huge.png").write_bytes(huge)
    with pytest.raises(UnreadableImageError) as refused:
        open_image(huge, name="huge.png", max_pixels=16_000_000)  # an upload to serve
    said = "huge.png: 2,500,000,000 pixels is over the limit of 16,000,000 pixels"
    assert str(refused.value) == said and refused.value.too_large
    assert too_many_pixels_text(refused.value, 16_000_000) == f"{said}; send a smaller image, " + (
        "or ask whoever runs the server to raise its limit"
    )
    hint = images.TOO_LARGE_HINT
    for read in (open_image, image_size):  # predict's, and explore's
        with pytest.raises(UnreadableImageError) as refused:
            read(tmp_path / "huge.png")
        limit = f"{images.MAX_PIXELS:,}"
        assert str(refused.value) == (
            f"{tmp_path / 'huge.png'}: 2,500,000,000 pixels is over the limit of {limit} pixels: "
            + hint
        )


def test_the_pixel_limit_is_said_and_the_environment_raises_it_with_pillows(tmp_path, monkeypatch):
    """A 10000x10000 PNG was refused with no word of what to do; a 100-megapixel camera's photos
    had no way in. The refusal says it (not for an upload: serve has its own limit), and
    OBJREC_MAX_PIXELS sets the limit, raising Pillow's guard with it (limits scaled down)."""
    from objrec import facts_store, image_facts
    from objrec.errors import ObjrecError
    from objrec.store import decode_tag

    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    path = tmp_path / "big.png"
    make_image((90, 90, 90), size=(160, 120)).save(path)
    with pytest.raises(UnreadableImageError, match=r"over the limit of 2,000 pixels$"):
        open_image(path.read_bytes(), max_pixels=2000)  # an upload: serve's limit, no advice
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # refuses 10,000 pixels from the header
    with pytest.raises(UnreadableImageError, match="downscale it, or raise the limit with OBJREC"):
        open_image(path)
    facts = image_facts.image_facts(path)
    assert (
        facts.error
        and facts.too_large
        and not image_facts.image_facts(tmp_path / "no.png").too_large
    )
    tag = decode_tag()
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "20,000")
    assert open_image(path).size == (160, 120) and Image.MAX_IMAGE_PIXELS == 20_000
    assert decode_tag() != tag  # a refusal remembered under the default is forgotten
    digests = [hash_file(path)]
    kept = facts_store.cached_facts([path], digests, tmp_path / "facts.sqlite")  # kept, readable
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "lots")
    with pytest.raises(ObjrecError, match="OBJREC_MAX_PIXELS=lots is not a number of pixels"):
        open_image(path)
    with pytest.raises(ObjrecError, match="OBJREC_MAX_PIXELS=lots"):  # a split went on with it
        facts_store.cached_facts([path], digests, tmp_path / "facts.sqlite")  # nothing to decode
    assert not kept[0].error


def test_listing_skips_hidden_and_non_images_and_accepts_extensionless_images(tmp_path):
    make_image((1, 2, 3)).save(tmp_path / "a.png")
    make_image((1, 2, 3)).save(tmp_path / "noext", format="JPEG")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "readme").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes((tmp_path / "a.png").read_bytes())
    (tmp_path / ".ipynb_checkpoints").mkdir()
    make_image((1, 2, 3)).save(tmp_path / ".ipynb_checkpoints" / "b.png")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "noext"]
    assert is_image_file(tmp_path / "noext") and not is_image_file(tmp_path / "readme")
    assert open_image(tmp_path / "noext").mode == "RGB"


def test_draft_decodes_big_jpegs_smaller_but_not_below_the_request(tmp_path):
    path = tmp_path / "big.jpg"
    # a noisy picture drawn small and enlarged: as big a JPEG, a sixteenth of the drawing
    make_image((90, 90, 90), size=(400, 300)).resize((1600, 1200)).save(path)
    small = open_image(path, draft_size=256)
    assert min(small.size) >= 256 and small.size[0] < 1600


def test_links_to_folders_are_followed_and_a_link_loop_is_not(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_image((1, 2, 3)).save(elsewhere / "b.png")
    root = tmp_path / "root"
    root.mkdir()
    make_image((1, 2, 3)).save(root / "a.png")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (elsewhere / "back").symlink_to(elsewhere, target_is_directory=True)
    assert [p.relative_to(root).as_posix() for p in list_images(root)] == ["a.png", "linked/b.png"]


def test_a_big_jpeg_counts_its_pixels_at_the_limits_scale_and_a_big_png_is_refused(
    tmp_path, monkeypatch
):
    """A 108-megapixel phone photo (12,000 x 9,000) is over the limit whole but read at 1/8 scale
    for a model: the limit counts it at that scale, the one training reads it at
    (``LIMIT_SIDE``), whatever scale a command decodes it at: check decodes it smaller, a
    backbone of larger inputs larger, and each counted its own, so check passed JPEGs train
    refused. A PNG has no reduced scale; a JPEG decoded whole counts whole. Scaled down: the
    limit's side 20 pixels, the limit 10,000 pixels."""
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    monkeypatch.setattr(images, "LIMIT_SIDE", 20)
    make_image((90, 90, 90), size=(160, 120)).save(tmp_path / "big.jpg")
    make_image((90, 90, 90), size=(160, 120)).save(tmp_path / "big.png")
    for draft, size in ((20, (40, 30)), (5, (20, 15)), (60, (80, 60))):
        opened = open_image(tmp_path / "big.jpg", draft_size=draft)
        assert opened.size == size and opened.info[images.COUNTED] == 40 * 30
    assert images.counted_pixels(tmp_path / "big.jpg") == 40 * 30
    monkeypatch.setattr(images, "LIMIT_SIDE", 60)  # 1/2: 80x60, 4,800 pixels
    assert open_image(tmp_path / "big.jpg", draft_size=5).info[images.COUNTED] == 80 * 60
    for path, draft in ((tmp_path / "big.jpg", None), (tmp_path / "big.png", 20)):
        with pytest.raises(UnreadableImageError, match="160x120 pixels is over the limit"):
            open_image(path, draft_size=draft)


@pytest.mark.parametrize("size", [(600, 400), (2400, 1800), (548, 1100), (547, 300), (9000, 2)])
def test_a_jpeg_counts_at_the_size_pillows_draft_mode_decodes_it_at_for_the_limits_side(
    tmp_path, size
):
    """``counted_size`` picks the reduction as Pillow's ``JpegImageFile.draft`` does, without
    drafting the image (a command decodes it at its own scale)."""
    make_large_image((90, 90, 90), size).save(tmp_path / "photo.jpg")
    with Image.open(tmp_path / "photo.jpg") as img:
        counted = images.counted_size(img, 64)
        img.draft("RGB", (images.LIMIT_SIDE, images.LIMIT_SIDE))
        assert counted == img.size


def test_the_limits_side_is_the_scale_the_default_backbone_trains_at():
    """``LIMIT_SIDE`` is what train decodes a JPEG for with the default backbone, and the script
    ``export`` writes counts at it too, so that it refuses what predict refuses."""
    from objrec.backbones import get_backbone
    from objrec.config import DEFAULT_BACKBONE
    from objrec.export import script as export_script
    from objrec.transforms import draft_size

    assert draft_size(get_backbone(DEFAULT_BACKBONE).data_config) == images.LIMIT_SIDE
    assert export_script.LIMIT_SIDE == images.LIMIT_SIDE


@pytest.mark.parametrize("size, counted", [((600, 400), "600x400"), ((2400, 1800), "600x450")])
def test_the_exported_script_counts_a_jpeg_as_objrec_does(tmp_path, monkeypatch, size, counted):
    """The script ``export`` writes counted a JPEG at the scale it decodes it at, objrec at
    ``LIMIT_SIDE``'s: under a lower ``OBJREC_MAX_PIXELS`` it would answer for photos ``predict``
    refuses. Both refuse it, in the same words."""
    from objrec.export import script as export_script

    make_large_image((90, 90, 90), size).save(tmp_path / "photo.jpg")
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "100000")
    with pytest.raises(UnreadableImageError) as objrecs:
        open_image(tmp_path / "photo.jpg", draft_size=64)
    with pytest.raises(export_script.OverLimit) as scripts:
        export_script.decoded(tmp_path / "photo.jpg", 64)
    assert str(scripts.value) == objrecs.value.reason
    assert objrecs.value.reason.startswith(f"{counted} pixels is over the limit of 100,000 pixels")


@pytest.mark.slow
def test_serve_counts_an_upload_as_every_command_counts_it(tmp_path, monkeypatch):
    """serve counted an upload at the scale it decodes it at, so under a lower
    ``OBJREC_MAX_PIXELS`` a backbone of smaller inputs than ``LIMIT_SIDE`` answered for JPEGs
    predict refuses: it counts them as predict does, in the same words. Its memory rule, at the
    size it decodes, still refuses on top what a backbone of larger inputs decodes larger."""
    make_large_image((90, 90, 90), (2400, 1800)).save(tmp_path / "photo.jpg")
    upload = (tmp_path / "photo.jpg").read_bytes()
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "100000")
    with pytest.raises(UnreadableImageError) as predicts:
        open_image(tmp_path / "photo.jpg", draft_size=64)  # decoded at 1/8: 300x225
    with pytest.raises(UnreadableImageError) as serves:
        open_image(upload, draft_size=64, max_pixels=images.pixel_limit())
    assert serves.value.too_large and serves.value.reason.startswith("600x450 pixels is over")
    assert predicts.value.reason.startswith(serves.value.reason)
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "500000")  # 600x450 within it
    assert open_image(tmp_path / "photo.jpg", draft_size=600).size == (1200, 900)
    with pytest.raises(UnreadableImageError, match=r"^upload: 1200x900 pixels is over the limit"):
        open_image(upload, draft_size=600, max_pixels=images.pixel_limit())


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
"""The start of an iPhone's HEIC photo (Pillow decodes none without a plugin such as pillow-heif)."""


def test_an_iphone_heic_photo_is_read_once_pillow_heif_is_installed(tmp_path, heif_unregistered):
    """Installing pillow-heif did nothing: its opener was never registered, so every HEIC photo
    stayed "a HEIC image, which Pillow cannot decode here"; objrec registers it on the first one."""
    path = save_heic(make_image((200, 30, 30), size=(40, 20)), tmp_path / "IMG_0001.HEIC")
    assert "HEIF" not in Image.ID
    assert [p.name for p in list_images(tmp_path)] == ["IMG_0001.HEIC"]
    assert image_size(path) == (40, 20)
    red = np.asarray(open_image(path)).reshape(-1, 3).mean(0)
    assert open_image(path.read_bytes()).size == (40, 20) and abs(red - (200, 30, 30)).max() < 12
    (tmp_path / "renamed.jpg").write_bytes(path.read_bytes())  # a HEIC named as a JPEG
    assert open_image(tmp_path / "renamed.jpg").size == (40, 20)


def test_heic_and_empty_files_are_listed_and_named_with_why_they_cannot_be_read(
    tmp_path, no_heif_plugin
):
    for name in ("IMG_0001.HEIC", "renamed.jpg", "no_extension"):
        (tmp_path / name).write_bytes(HEIC)
    (tmp_path / "empty.png").write_bytes(b"")
    names = ["IMG_0001.HEIC", "empty.png", "no_extension", "renamed.jpg"]
    assert [p.name for p in list_images(tmp_path)] == names
    heic = r"\(a HEIC image, which needs pillow-heif to be read: `pip install pillow-heif`, or "
    for source in (tmp_path / "IMG_0001.HEIC", tmp_path / "renamed.jpg", HEIC):
        with pytest.raises(UnreadableImageError, match=heic):
            open_image(source)
    for source in (tmp_path / "empty.png", b""):
        with pytest.raises(UnreadableImageError, match=r"\(empty file, 0 bytes\)"):
            open_image(source)


def test_a_damaged_heic_file_is_named_as_such_once_pillow_heif_is_installed(tmp_path):
    pytest.importorskip("pillow_heif")
    (tmp_path / "IMG_0001.HEIC").write_bytes(HEIC)
    for source in (tmp_path / "IMG_0001.HEIC", HEIC):
        with pytest.raises(UnreadableImageError, match=r"\(a HEIC image Pillow cannot read \(dam"):
            open_image(source)


def test_the_size_of_a_heic_or_an_empty_file_says_why_it_cannot_be_read(tmp_path, no_heif_plugin):
    """``image_size`` (the image facts of audit and split: audit's ``unreadable:`` outliers) said
    "not a recognised image format" for both, where open_image names them."""
    (tmp_path / "IMG_0001.HEIC").write_bytes(HEIC)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(UnreadableImageError, match=r"\(a HEIC image, which needs pillow-heif"):
        image_size(tmp_path / "IMG_0001.HEIC")
    with pytest.raises(UnreadableImageError, match=r"\(empty file, 0 bytes\)"):
        image_size(tmp_path / "empty.jpg")


def test_jfif_and_avif_files_are_images(tmp_path):
    from PIL import features

    make_image((1, 2, 3)).save(tmp_path / "saved by a browser.jfif", "JPEG")
    names = ["saved by a browser.jfif"]
    if features.check("avif"):  # recent Pillows (13.0 does)
        make_image((1, 2, 3)).save(tmp_path / "a.avif")
        names.insert(0, "a.avif")
    assert [p.name for p in list_images(tmp_path)] == names
    assert all(open_image(path).size == (40, 32) for path in list_images(tmp_path))


def test_a_phones_mpo_jpeg_is_decoded_at_a_reduced_scale_as_any_jpeg(tmp_path):
    """A JPEG with a second picture (a gain map, a depth map) is "MPO" to PIL: it was decoded whole
    (slower, and refused over the pixel limit) while the sidecar says JPEGs are reduced."""
    first = Image.new("RGB", (1600, 1200), (200, 40, 40))
    first.save(tmp_path / "PXL_0001.jpg", "MPO", save_all=True, append_images=[first])
    assert Image.open(tmp_path / "PXL_0001.jpg").format == "MPO"
    assert open_image(tmp_path / "PXL_0001.jpg", draft_size=240).size == (400, 300)


def test_an_avif_is_named_as_undecodable_only_where_pillow_lacks_avif(monkeypatch):
    """'a AVIF image, which Pillow cannot decode here' was said even by a Pillow that reads AVIF
    (13.0), of a damaged one."""
    avif = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64
    Image.init()
    if "AVIF" in Image.ID:
        with pytest.raises(UnreadableImageError, match=r"\(an AVIF image Pillow cannot read"):
            open_image(avif)
    monkeypatch.setattr(Image, "ID", [i for i in Image.ID if i != "AVIF"])  # an older Pillow
    with pytest.raises(UnreadableImageError, match=r"\(an AVIF image, which Pillow cannot decode"):
        open_image(avif)


def test_a_name_that_is_not_utf8_is_warned_about_once_per_block(tmp_path, caplog):
    """A command lists a folder several times (a check, then the work): each listing warned."""
    make_image((200, 40, 40)).save(tmp_path / os.fsdecode(b"caf\xe9.jpg"), "JPEG")

    def warnings_from(listings) -> int:
        caplog.clear()
        with caplog.at_level("WARNING", logger="objrec"):
            listings()
        return sum("not UTF-8" in r.getMessage() for r in caplog.records)

    def twice():
        assert list_images(tmp_path) == list_images(Path(os.path.relpath(tmp_path))) == []

    with_block = warned.warned_once_per_file()(twice)
    assert warnings_from(with_block) == 1
    assert warnings_from(with_block) == 1  # a later call is warned again: nothing leaks
    assert warnings_from(lambda: warned.warned_once_per_file()(with_block)()) == 1  # nested: shared
    assert warnings_from(twice) == 2  # outside any block (a thread of its own): each listing


@pytest.mark.parametrize("keep", [14, -20])  # cut before its first directory, or inside a value
def test_damaged_exif_is_warned_about_once_naming_the_file_not_by_pillow(tmp_path, caplog, keep):
    """Pillow's "Corrupt EXIF data" (a UserWarning) named no file, and came at every open."""
    import warnings

    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Canon" * 10  # the orientation, and a value stored apart
    path = tmp_path / "damaged.jpg"
    make_image((200, 40, 40)).save(path, exif=exif.tobytes()[:keep])
    once = warned.warned_once_per_file()
    with warnings.catch_warnings(record=True) as pillow, caplog.at_level("WARNING", "objrec"), once:
        open_image(path), open_image(path, draft_size=16), image_size(path)
        all_facts([path] * 3)
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"{path}: {said[0].split(': ', 1)[1]}"] and "damaged EXIF data" in said[0]
    assert [str(w.message) for w in pillow] == []


def test_held_warnings_are_logged_where_they_are_given_once_per_file(tmp_path, caplog):
    """A worker process holds its warnings back (``warned.held_warnings``) for its caller to
    give: nothing is logged in the block, and the caller's own once-per-file memory applies."""
    path = tmp_path / "a.jpg"
    with caplog.at_level("WARNING", "objrec"), warned.warned_once_per_file():
        with warned.held_warnings() as held:
            warned.warn_once("exif", path, "%s: damaged EXIF data", path)
            warned.warn_once("exif", path, "%s: damaged EXIF data", path)
        assert caplog.records == [] and len(held) == 2
        for kind, where, message, args in held:
            warned.warn_once(kind, where, message, *args)
    assert [r.getMessage() for r in caplog.records] == [f"{path}: damaged EXIF data"]


@pytest.mark.parametrize(
    ("dtype", "scale", "darkest", "brightest"),
    [
        (np.int32, 100, 0, 255),  # 0..6,300 of 2**31: by its own range (was 6,300 / 256: 24)
        (np.float32, 100, 0, 255),  # 0..6,300: by its own range (was clipped: white but 0)
        (np.float32, -1 / 64, 0, 255),  # -0.98..0: by its own range (was black)
        (np.float32, 1 / 126, 0, 127),  # 0..0.5: 0 black, 1 white, as photo editors store it
    ],
)
def test_deep_tiffs_are_scaled_as_a_viewer_shows_them(tmp_path, dtype, scale, darkest, brightest):
    """32-bit integer (Pillow's mode I) and float (F) TIFFs."""
    path = tmp_path / "deep.tif"
    Image.fromarray((np.arange(64).reshape(8, 8) * scale).astype(dtype)).save(path)
    assert Image.open(path).mode == ("F" if dtype == np.float32 else "I")
    pixels = np.asarray(open_image(path))[..., 0]
    assert (pixels.min(), pixels.max()) == (darkest, brightest)
    assert len(np.unique(pixels)) > 32  # a gradient, not a few levels


def test_a_sixteen_bit_pgm_keeps_its_range_though_pillow_reads_it_as_32_bit(tmp_path):
    """Pillow reads it as mode I, scaled to 0..65535 whatever its maxval: 16-bit, as a PNG's."""
    path = tmp_path / "deep.pgm"
    path.write_bytes(b"P5\n2 1\n4095\n" + np.array([0, 2048], dtype=">u2").tobytes())
    assert Image.open(path).mode == "I"
    assert np.asarray(open_image(path))[0, :, 0].tolist() == [0, 128]


def deep_image(mode: str) -> Image.Image:
    """A 512 x 512 grey image of Pillow's ``mode`` I;16 (every 16-bit value) or F (0..7, with a
    NaN, an infinity and a negative infinity), loaded."""
    if mode == "I;16":
        return Image.fromarray((np.arange(512 * 512) % 65536).astype(np.uint16).reshape(512, 512))
    values = np.random.default_rng(0).random((512, 512), dtype=np.float32) * 7
    values[0, :3] = (np.nan, np.inf, -np.inf)
    return Image.fromarray(values)


def grey_converters():
    from objrec.export.script import grey8

    return [images._deep_to_grey, grey8]  # objrec's, and the exported script's copy


@pytest.mark.parametrize(("mode", "most"), [("I;16", 8), ("F", 20)])
def test_a_deep_grey_scan_is_made_8_bit_without_float_copies(mode, most):
    """An archive's 8000 x 6000 16-bit grey TIFF took 1,423 MB more to open than the same scan in
    8-bit RGB (186 MB): the conversion held it as float64 four times (the pixels, / 256,
    nan_to_num, clip). 16 bits are now shifted as whole numbers, and 32-bit ones scaled in
    place: numpy's peak (traced) was 31 bytes a pixel for I;16 and 37 for F, now 6 and 14."""
    import tracemalloc

    image = deep_image(mode)
    for convert in grey_converters():
        tracemalloc.start()
        try:
            convert(image, "TIFF")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < most * 512 * 512, convert.__module__


@pytest.mark.parametrize("mode", ["I", "F"])
def test_a_32_bit_grey_image_is_scaled_a_block_at_a_time_to_the_same_pixels(mode, monkeypatch):
    """A 581 KiB 32-bit TIFF of 9000 x 9000 pixels took serve 1.4 GB to decode: the whole image
    in float64 and a mask of its numbers, 9 bytes a pixel traced by numpy on top of Pillow's 4.
    Its rows are scaled a block at a time into 8-bit grey: 1 byte a pixel
    and a block, the same pixels as in one block (model_infer.py's copy stays exact)."""
    import tracemalloc

    image = deep_image("F")
    if mode == "I":
        values = np.random.default_rng(0).random((512, 512)) * 7e8 - 1e8
        image = Image.fromarray(values.astype(np.int32))
    whole = np.asarray(images._deep_to_grey(image, "TIFF"))
    monkeypatch.setattr(images, "DEEP_BLOCK_PIXELS", 1 << 14)  # 32 blocks of 16 rows
    tracemalloc.start()
    try:
        grey = images._deep_to_grey(image, "TIFF")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(np.asarray(grey), whole) and len(np.unique(whole)) > 200
    assert peak < 3 * 512 * 512  # 14 bytes a pixel before


@pytest.mark.parametrize(
    ("mode", "cost"), [("RGB", 4), ("L", 5), ("I;16", 7), ("I", 9), ("F", 9), ("RGBA", 9)]
)
def test_a_limit_given_counts_the_memory_an_image_takes_to_decode(mode, cost):
    """serve's limit counted pixels: a 0.6 MB 32-bit TIFF within it took 1.4 GB to decode, an
    RGBA PNG 1.0 GB, where an RGB one of the pixels took 0.36 GB. A limit
    given counts RGB pixels' worth of the memory each kind takes to decode (the bytes a pixel
    measured by peak RSS); without one, objrec's own limit counts pixels, as before."""
    size = (64, 32)
    image = Image.new(mode, size)
    data = io.BytesIO()
    image.save(data, "TIFF" if mode in ("I", "F") else "PNG")
    data = data.getvalue()
    assert images.bytes_to_decode(Image.open(io.BytesIO(data))) == cost
    enough = 64 * 32 * cost // 4
    assert open_image(data, max_pixels=enough).size == size
    assert open_image(data).size == size
    with pytest.raises(UnreadableImageError) as refused:
        open_image(data, name="deep.tif", max_pixels=enough - 1)
    assert refused.value.too_large
    if cost > 4:  # an RGB image is refused for its pixels, as before
        assert str(refused.value) == (
            f"deep.tif: 64x32 pixels is over the limit of {(enough - 1) * 4 // cost:,} pixels "
            f"for an image of its kind, which takes {cost} bytes a pixel to decode (the limit of "
            f"{enough - 1:,} pixels is of RGB ones, which take 4)"
        )


@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_deep_grey_pixels_are_those_of_the_float_conversion(mode):
    """The whole-number and in-place conversion gives the pixels the float64 one gave (the
    feature store keeps features by those pixels' rules)."""
    pixels = np.asarray(deep_image(mode), dtype=np.float64)
    if mode == "I;16":
        expected = pixels / 256
    else:
        finite = pixels[np.isfinite(pixels)]
        expected = (pixels - finite.min()) * (255 / (finite.max() - finite.min()))
    expected = np.nan_to_num(expected, nan=0.0, posinf=255.0, neginf=0.0)
    expected = np.clip(expected, 0, 255).astype(np.uint8)
    for convert in grey_converters():
        assert np.array_equal(np.asarray(convert(deep_image(mode), "TIFF")), expected)


def test_a_jpeg_over_pillows_header_limit_is_decoded_reduced_other_files_are_refused(
    tmp_path, monkeypatch
):
    """Pillow refused any file over 2 x MAX_IMAGE_PIXELS from its header, so a 200-megapixel
    photo was refused though objrec would decode it at 1/8. Here the limits are scaled down:
    Pillow's to 2 x 1,000 pixels, objrec's to 2,000 pixels decoded."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    photo = make_image((200, 40, 40), size=(160, 120))  # 19,200 pixels: 1,200 decoded at 1/4
    for name, options in [("big.jpg", {}), ("progressive.jpg", {"progressive": True})]:
        photo.save(tmp_path / name, **options)
    photo.save(tmp_path / "big.png")
    assert open_image(tmp_path / "big.jpg", draft_size=30, max_pixels=2000).size == (40, 30)
    assert image_size(tmp_path / "big.jpg") == (160, 120)
    for path, draft in [("big.jpg", None), ("progressive.jpg", 30), ("big.png", 30)]:
        with pytest.raises(UnreadableImageError) as refused:
            open_image(tmp_path / path, draft_size=draft, max_pixels=2000)
        assert refused.value.too_large
    upload = (tmp_path / "big.jpg").read_bytes()  # strangers' bytes keep Pillow's check
    with pytest.raises(UnreadableImageError, match="19,200 pixels is over the limit of 2,000 pix"):
        open_image(upload, draft_size=30, max_pixels=2000)
    as_file = open_image(upload, 30, str(tmp_path / "big.jpg"), max_pixels=2000, from_file=True)
    assert as_file.size == (40, 30)  # the bytes of a file the store hashed: decoded as the file
    with pytest.raises(
        UnreadableImageError, match="pixels is over the limit of"
    ):  # was a traceback
        image_size(tmp_path / "big.png")


def test_a_jpeg_over_pillows_header_limit_whose_first_scan_is_not_interleaved_is_refused(
    tmp_path, monkeypatch
):
    """A sequential JPEG whose scans hold one component each makes libjpeg hold every
    coefficient of the whole image, whatever the scale, as a progressive one does: past Pillow's
    header limit it is refused, not reopened (limits scaled down as above)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = io.BytesIO()
    make_image((200, 40, 40), size=(160, 120)).save(data, "JPEG")
    data = data.getvalue()
    sos = data.index(b"\xff\xda")
    length = int.from_bytes(data[sos + 2 : sos + 4], "big")
    one = b"\xff\xda\x00\x08\x01" + data[sos + 5 : sos + 7] + b"\x00\x3f\x00"  # its first component
    (tmp_path / "scans.jpg").write_bytes(data[:sos] + one + data[sos + 2 + length :])
    assert images._first_scan_components(tmp_path / "scans.jpg") == 1
    with pytest.raises(UnreadableImageError, match="pixels is over the limit of") as refused:
        open_image(tmp_path / "scans.jpg", draft_size=30, max_pixels=2000)
    assert refused.value.too_large


@pytest.mark.parametrize(
    "mode, key, opaque, seen",
    [
        ("RGB", (0, 0, 0), (200, 10, 10), (200, 10, 10)),
        ("L", 0, 90, (90, 90, 90)),
        ("I;16", 0, 32768, (128, 128, 128)),  # 16-bit grey keeps its range
    ],
)
def test_a_pngs_transparent_colour_is_white_as_a_palettes_is(tmp_path, mode, key, opaque, seen):
    path = tmp_path / "keyed.png"
    dtype = np.uint16 if mode == "I;16" else np.uint8
    pixels = np.zeros((4, 4, 3) if mode == "RGB" else (4, 4), dtype)
    pixels[:, 2:] = opaque  # left half the transparent colour, right half opaque
    Image.fromarray(pixels).save(path, transparency=key)
    assert Image.open(path).mode == mode and Image.open(path).info["transparency"] == key
    out = np.asarray(open_image(path))
    assert (out[:, :2] == 255).all() and (out[:, 2:] == seen).all()


def test_a_grey_tiff_with_premultiplied_alpha_is_read_over_white(tmp_path):
    """A TIFF's associated alpha (ExtraSamples 1) opens in Pillow as mode La, which it converts
    to no mode but LA: such a grey TIFF was refused, "cannot read image (conversion from La to L
    not supported)". Left half grey 50 at alpha 128 (100 unpremultiplied), right half clear."""
    path = tmp_path / "associated.tif"
    pixels = np.zeros((4, 4, 2), np.uint8)
    pixels[:, :2] = (50, 128)
    Image.fromarray(pixels, "LA").save(path)  # Pillow writes ExtraSamples 2: made 1 here
    data = path.read_bytes()
    tag = bytes.fromhex("5201030001000000") + b"\x02\x00"  # ExtraSamples, SHORT, 1 value: 2
    path.write_bytes(data.replace(tag, tag[:8] + b"\x01\x00"))
    assert Image.open(path).mode == "La"
    out = np.asarray(open_image(path))
    assert (out[:, :2] == 177).all() and (out[:, 2:] == 255).all()  # 100 half over white
