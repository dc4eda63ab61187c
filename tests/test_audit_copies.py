"""The audit's copies: image facts and their hashes (``image_facts``), near-duplicate and
look-alike pairs (``dedup``) and groups (``audit.copies``)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from objrec import dedup, facts_store, image_facts
from objrec.audit.plan import WORDS
from objrec.audit.recipe import AuditResult

from .test_audit import COLOURS, alike_signals, make_split, pattern


def test_feature_rule_and_groups():
    rule = dedup.DuplicateRule()
    assert rule(0.98, 200) and rule(0.5, 20) and rule(0.92, 60)
    assert not rule(0.92, 80) and not rule(0.85, 30)
    # every bound is inclusive, as the fields' docs say ("at or above", "at or below", "within")
    assert rule.duplicate(0.95, 256) and not rule.duplicate(0.9499, 256)
    assert rule.duplicate(0.0, 24) and not rule.duplicate(0.0, 25)
    assert rule.duplicate(0.85, 256, 32) and not rule.duplicate(0.8499, 256, 32)
    assert not rule.duplicate(0.85, 256, 33)
    assert rule.look_alike(0.9, 64) and not rule.look_alike(0.8999, 64)
    assert not rule.look_alike(0.9, 65)
    assert dedup.groups_of(5, [(0, 3), (3, 4)]) == [[0, 3, 4]]


@pytest.mark.slow
def test_a_centre_crop_is_found_by_its_crop_hash(tmp_path):
    """A copy with 5% cut off each side (and one mirrored too) is within a few bits of the
    original's centre-crop hash, while its whole-image hash has moved past the hash rule."""
    original = pattern(COLOURS["red"], 7, size=(240, 200))
    original.save(tmp_path / "original.png")
    original.crop((12, 10, 228, 190)).save(tmp_path / "cropped.jpg", quality=85)
    ImageOps.mirror(original.crop((12, 10, 228, 190))).save(tmp_path / "mirrored.png")
    pattern(COLOURS["red"], 8, size=(240, 200)).save(tmp_path / "other.png")
    names = ("original.png", "cropped.jpg", "mirrored.png", "other.png")
    facts = [image_facts.image_facts(tmp_path / n) for n in names]
    rule = dedup.DuplicateRule()
    assert dedup.hash_distance(facts[0], facts[1]) > rule.hash_strict
    assert dedup.crop_distance(facts[0], facts[1]) <= rule.crop_hash
    assert dedup.crop_distance(facts[0], facts[2]) <= rule.crop_hash
    assert dedup.crop_distance(facts[0], facts[3]) > 2 * rule.crop_hash
    alike = dedup.normalise(np.ones((4, 8), dtype=np.float32))  # features that all agree
    trusting_crops = dedup.DuplicateRule(
        sim_strict=2, sim_loose=2, hash_strict=-1, sim_crop=0.5, kept_by_split=False
    )
    pairs = {(p.i, p.j) for p in dedup.duplicate_pairs(alike, facts, trusting_crops)}
    assert pairs == {(0, 1), (0, 2)}  # the crop and its mirror: whole hashes, turned off here
    ImageOps.mirror(original).save(tmp_path / "flipped.png")
    flipped = image_facts.image_facts(tmp_path / "flipped.png")
    assert int(facts[0].phash ^ flipped.phash).bit_count() > rule.hash_strict
    assert dedup.hash_distance(facts[0], flipped) <= rule.hash_strict  # by its mirror's hash


@pytest.mark.slow
def test_image_facts_are_kept_by_content_and_not_decoded_twice(tmp_path, monkeypatch):
    for i in range(3):
        pattern(COLOURS["blue"], i).save(tmp_path / f"{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    paths = sorted(tmp_path.glob("*.*"))
    digests = [hashlib.sha256(p.read_bytes()).hexdigest()[:32] for p in paths]
    first = facts_store.cached_facts(paths, digests, tmp_path / "facts.sqlite")
    assert first[-1].error and not any(f.error for f in first[:-1])  # broken.jpg sorts last

    def decode(path, data=None):
        decoded.append(path.name)
        return image_facts.ImageFacts(error="decoded again")

    decoded: list[str] = []
    monkeypatch.setattr(image_facts, "image_facts", decode)
    again = facts_store.cached_facts(paths, digests, tmp_path / "facts.sqlite")
    assert again[:-1] == first[:-1] and decoded == ["broken.jpg"]  # only the unreadable one


def test_image_facts_are_never_kept_under_the_digest_of_other_bytes(tmp_path, monkeypatch):
    """A photo replaced between its hash (the file index) and its decode had the other photo's
    hashes, crops and size filed under its digest, for good: later splits and audits read them,
    and parted its real near-copies (review52a M1). The facts are measured from the bytes that
    hash to the digest; a file changed since is unreadable this time, its facts not kept."""
    from objrec.file_index import hash_file

    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    pattern(COLOURS["blue"], 0).save(paths[0])
    pattern(COLOURS["red"], 1).save(paths[1])
    digests = [hash_file(p) for p in paths]
    original, other = (p.read_bytes() for p in paths)
    measure = image_facts.all_facts

    def swapped(*args, **kwargs):  # a.png replaced by b.png's bytes while the facts are taken
        paths[0].write_bytes(other)
        try:
            return measure(*args, **kwargs)
        finally:
            paths[0].write_bytes(original)

    monkeypatch.setattr(image_facts, "all_facts", swapped)
    facts = facts_store.cached_facts(paths, digests, tmp_path / "facts.sqlite")
    assert facts_store.facts_of(digests, tmp_path / "facts.sqlite") == {digests[1]: facts[1]}
    assert facts[0].error == f"{paths[0]}: {image_facts.CHANGED}" and not facts[1].error
    monkeypatch.undo()
    again = facts_store.cached_facts(paths, digests, tmp_path / "facts.sqlite")
    assert again == [image_facts.image_facts(p) for p in paths]  # measured, unchanged, next time


def test_image_facts_read_each_file_once(tmp_path, monkeypatch):
    """``image_facts`` opened each photo twice, its header for its upright size and then to
    decode it, and a third time to trim a reduced JPEG's border (review52a L3): a split read
    every photo three times, with its SHA-256. One read: the size comes with the decode, the
    border's second decode from the same bytes."""
    import builtins
    import io

    exif = Image.Exif()
    exif[0x0112] = 6  # the size turned: what the header read was for
    letterboxed = ImageOps.pad(pattern(COLOURS["green"], 2, size=(900, 500)), (900, 900))
    letterboxed.save(path := tmp_path / "square.jpg", exif=exif)
    expected = image_facts.image_facts(path)
    opened, real_open = [], builtins.open

    def counted(file, *args, **kwargs):
        opened.append(Path(file).name if isinstance(file, str | Path) else None)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counted)  # Pillow's
    monkeypatch.setattr(io, "open", counted)  # pathlib's
    facts = image_facts.image_facts(path)
    monkeypatch.undo()
    assert opened.count("square.jpg") == 1 and facts == expected
    assert (facts.width, facts.height) == (900, 900) and facts.trimmed


def test_hash_bits_are_imagehash_phash_as_an_int():
    import imagehash

    for seed in range(5):
        grey = pattern((120, 90, 60), seed, size=(70 + seed, 50)).convert("L")
        expected = int(str(imagehash.phash(grey, hash_size=image_facts.HASH_SIZE)), 16)
        assert image_facts.hash_bits(grey) == expected


@pytest.mark.slow
def test_all_facts_of_worker_processes_are_the_callers_own(tmp_path, monkeypatch, caplog):
    """``all_facts`` measures many images in forked worker processes (threads thrashed on the
    GIL: 4 threads on 2 cores took 1.8 times one thread's time): the same facts in the same
    order, a tick per file, and a worker's warnings (damaged EXIF data) logged by the caller, once
    per file; where no process can be started, all are measured in the caller."""
    import concurrent.futures
    import os
    import sys

    from objrec import warned

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"p{i}.png")
        pattern((200, 40, 40), i, size=(90 + 10 * i, 70)).save(paths[-1])
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Canon" * 10
    pattern((40, 60, 200), 9).save(tmp_path / "damaged.jpg", exif=exif.tobytes()[:-20])
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    paths += [tmp_path / "damaged.jpg", tmp_path / "broken.jpg"]
    expected = [image_facts.image_facts(p) for p in paths]
    caplog.clear()
    monkeypatch.setattr("objrec.processes.PROCESS_MIN", 2)
    ticks: list[int] = []
    with caplog.at_level("WARNING", "objrec"), warned.warned_once_per_file():
        found = image_facts.all_facts(paths * 2, lambda: ticks.append(1), workers=2)
    assert found == expected * 2 and len(ticks) == 2 * len(paths) and expected[-1].error
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"{tmp_path / 'damaged.jpg'}: damaged EXIF")

    monkeypatch.setattr(
        image_facts, "image_facts", lambda p, *a: image_facts.ImageFacts(error=str(os.getpid()))
    )
    assert str(os.getpid()) not in {f.error for f in image_facts.all_facts(paths, workers=2)}
    assert {f.error for f in image_facts.all_facts(paths[:1], workers=2)} == {str(os.getpid())}

    def refuse(*args, **kwargs):
        raise OSError("no semaphores here")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refuse)
    assert {f.error for f in image_facts.all_facts(paths, workers=2)} == {str(os.getpid())}
    monkeypatch.undo()  # on macOS (fork unsafe) and Windows (none): measured in the caller
    monkeypatch.setattr("objrec.processes.PROCESS_MIN", 2)
    monkeypatch.setattr(
        image_facts, "image_facts", lambda p, *a: image_facts.ImageFacts(error=str(os.getpid()))
    )
    monkeypatch.setattr(sys, "platform", "darwin")
    assert {f.error for f in image_facts.all_facts(paths, workers=2)} == {str(os.getpid())}


@pytest.mark.slow
def test_all_facts_goes_on_in_the_caller_when_a_worker_process_is_killed(
    tmp_path, monkeypatch, caplog
):
    """A worker killed while measuring (the out-of-memory killer, a ``kill``) broke the pool:
    ``BrokenProcessPool`` reached the user as a traceback from ``split`` or ``audit``. The facts
    the workers sent are kept, the rest are measured in the caller, and a warning says why."""
    import os

    paths = []
    for i in range(40):
        paths.append(tmp_path / f"p{i}.png")
        pattern((200, 40, 40), i, size=(40 + i, 30)).save(paths[-1])
    expected = [image_facts.image_facts(p) for p in paths]
    caller, measure = os.getpid(), image_facts.image_facts

    def killed(path, *data):  # the worker measuring p20.png dies at once
        if path.name == "p20.png" and os.getpid() != caller:
            os._exit(9)
        return measure(path, *data)

    monkeypatch.setattr("objrec.processes.PROCESS_MIN", 2)
    monkeypatch.setattr(image_facts, "image_facts", killed)
    ticks: list[int] = []
    with caplog.at_level("WARNING", "objrec"):
        found = image_facts.all_facts(paths, lambda: ticks.append(1), workers=2)
    assert found == expected and len(ticks) == len(paths)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "worker process" in said[0] and "in this process" in said[0]


@pytest.mark.slow
def test_all_facts_leaves_no_worker_behind_when_a_fork_fails(tmp_path, monkeypatch):
    """The second of two forks failing (EAGAIN: a limit on processes, memory short) sent the
    images to the caller, but left the first worker waiting for work: the caller then hung at
    its exit, where multiprocessing joins its children. Started workers are ended."""
    import multiprocessing
    import multiprocessing.context

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"p{i}.png")
        pattern((200, 40, 40), i).save(paths[-1])
    start, forks = multiprocessing.context.ForkProcess._Popen, []

    def second_fails(process):
        forks.append(process)
        if len(forks) == 2:
            raise OSError(11, "Resource temporarily unavailable")
        return start(process)

    monkeypatch.setattr(multiprocessing.context.ForkProcess, "_Popen", staticmethod(second_fails))
    monkeypatch.setattr("objrec.processes.PROCESS_MIN", 2)
    try:
        assert image_facts.all_facts(paths, workers=2) == [
            image_facts.image_facts(p) for p in paths
        ]
        assert len(forks) == 2 and multiprocessing.active_children() == []
    finally:
        for child in multiprocessing.active_children():
            child.kill()


def test_two_blank_images_are_no_near_duplicates_by_their_hashes(tmp_path):
    """A flat image's pHash is about 0 whatever its colour, so a grey card and a black frame in
    two classes were near-duplicates "across classes" (the plan removed one as a copy of the
    other, split warned that one of the two labels was probably wrong). Neither the audit nor
    split pairs a nearly blank image by its hashes; a byte copy of one is still its copy, by
    content in split, by its features in the audit."""
    from objrec.dedup import duplicate_pairs, split_pairs
    from objrec.image_facts import MIN_CONTRAST, image_facts

    Image.new("RGB", (64, 64), (0, 0, 0)).save(tmp_path / "black.png")
    Image.new("RGB", (80, 60), (128, 128, 128)).save(tmp_path / "grey.png")
    facts = [image_facts(tmp_path / name) for name in ("black.png", "grey.png")]
    assert all(f.contrast < MIN_CONTRAST for f in facts)
    assert dedup.hash_distance(*facts) <= dedup.HASH_SPLIT  # what paired them
    assert split_pairs(facts) == []
    assert duplicate_pairs(np.eye(2, dtype=np.float32), facts) == []
    (same,) = duplicate_pairs(np.ones((2, 2), dtype=np.float32) / np.sqrt(2), facts)
    assert (same.hash_distance, same.look_alike) == (256, False)  # by features alone


def test_hash_pairs_find_a_mirrored_copy():
    images = [pattern((120, 120, 120), s) for s in range(6)]
    images.append(ImageOps.mirror(images[2]).resize((50, 44)))
    facts = [
        image_facts.ImageFacts(
            64,
            56,
            image_facts.hash_bits(i.convert("L")),
            image_facts.hash_bits(ImageOps.mirror(i.convert("L"))),
            30.0,
        )
        for i in images
    ]
    pairs = dedup.hash_pairs(facts, dedup.HASH_SPLIT)
    assert [(int(i), int(j)) for i, j, _ in pairs] == [(2, 6)]


def test_image_facts_give_a_big_rotated_photos_upright_size(tmp_path):
    """The size was turned by EXIF only when the reduced decode kept a side whole: a phone photo
    read at 1/8 kept its sideways size (as ``tiny``/``aspect`` outliers name it)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: a portrait stored as a landscape
    Image.new("RGB", (1200, 800), (90, 90, 90)).save(tmp_path / "portrait.jpg", exif=exif)
    facts = image_facts.image_facts(tmp_path / "portrait.jpg")
    assert (facts.width, facts.height) == (800, 1200) and not facts.error


@pytest.mark.slow
def test_two_photos_only_moderately_alike_are_look_alikes_not_a_leak(tmp_path):
    """The demo's two Motorbikes photos (two bikes of one model on white, similarity 0.902, 46
    bits apart) were called a near-duplicate group spanning train and test, in red, and the plan
    proposed removing one. A resized copy (0.97, 10 bits) is still a near-duplicate."""
    from objrec.audit.copies import duplicate_groups
    from objrec.audit.inventory import inventory
    from objrec.audit.plan import plan_rows
    from objrec.audit.recipe import AuditResult

    inv = inventory(make_split(tmp_path / "data"))
    where = {inv.rel(it): i for i, it in enumerate(inv.items)}
    bike, other_bike = where["train/blue/blue_00.png"], where["test/blue/blue_00.png"]
    photo, resized = where["train/red/red_00.png"], where["valid/red/red_00.png"]
    unit, facts = alike_signals(
        len(inv.items), {(bike, other_bike): (0.902, 46), (photo, resized): (0.97, 10)}
    )
    idx = np.arange(len(inv.items))
    near = dedup.feature_neighbours(unit)
    copies, alike = duplicate_groups(inv, idx, unit, facts, dedup.DuplicateRule(), near)
    assert [(g.indices, g.kind) for g in copies] == [([photo, resized], "across splits")]
    assert [(g.indices, g.kind) for g in alike] == [([bike, other_bike], "across splits")]
    result = AuditResult([], copies, [], len(inv.items), list(inv.classes), look_alikes=alike)
    assert "look_alikes" in result.to_json()
    plan = {row["file"]: row for row in plan_rows(result, inv)}
    assert plan["valid/red/red_00.png"]["action"] == "remove"
    assert plan["test/blue/blue_00.png"]["action"] == "keep"
    assert "only if it is the same picture" in plan["test/blue/blue_00.png"]["reason"]
    assert [plan[f]["reason"] for f in ("valid/red/red_00.png", "test/blue/blue_00.png")] == [
        "across splits near-duplicate of train/red/red_00.png (similarity 0.970)",
        "looks like train/blue/blue_00.png (look-alikes across splits, similarity 0.902): "
        f"remove it only if it is the same picture ({WORDS})",
    ]


@pytest.mark.slow
def test_a_copy_split_keeps_together_by_its_crop_hash_alone_is_a_look_alike_in_the_audit(tmp_path):
    """``split`` kept Caltech-101's anchor 0008 with 0017 (one drawing, red on white and
    brown on blue: the whole hashes 62 bits apart, a crop hash 24), but the audit, which trusts a
    crop hash only where the features agree (theirs 0.68), named it in no file nor the plan. Every
    pair ``split`` keeps together is now in the audit: here, a look-alike the plan keeps."""
    from objrec.audit.copies import duplicate_groups
    from objrec.audit.inventory import Inventory, Item
    from objrec.audit.plan import plan_rows

    folder = tmp_path / "anchor"
    folder.mkdir()
    original = pattern(COLOURS["red"], 7, size=(240, 200))
    original.save(folder / "0.png")
    red, green, blue = original.crop((12, 10, 228, 190)).split()  # 5% off a side, then blue
    Image.merge("RGB", (blue, green, red)).save(folder / "1.jpg", quality=85)
    pattern(COLOURS["red"], 8, size=(240, 200)).save(folder / "2.png")
    facts = [image_facts.image_facts(p) for p in sorted(folder.iterdir())]
    assert dedup.split_pairs(facts) == [(0, 1)]
    assert dedup.hash_distance(facts[0], facts[1]) > dedup.HASH_SPLIT
    unit = dedup.normalise(np.array([[1, 0, 0], [0.68, 0.73, 0], [0, 0, 1]], dtype=np.float32))
    items = [Item(p, f"anchor/{p.name}", 0, None) for p in sorted(folder.iterdir())]
    inv = Inventory(tmp_path, ("anchor",), items, False)
    copies, alike = duplicate_groups(inv, np.arange(3), unit, facts, dedup.DuplicateRule(), None)
    assert copies == [] and [g.indices for g in alike] == [[0, 1]]
    plan = {
        row["file"]: (row["action"], row["reason"])
        for row in plan_rows(AuditResult([], copies, [], 3, ["anchor"], look_alikes=alike), inv)
    }
    assert plan["anchor/1.jpg"][0] == "keep"
    assert plan["anchor/1.jpg"][1].startswith("looks like anchor/0.png (look-alikes within class")


@pytest.mark.slow
def test_a_turned_or_letterboxed_copy_is_a_near_duplicate_in_the_audit(tmp_path):
    """a copy stored sideways (its EXIF orientation lost) and one padded to a square
    with black bars were 106-130 bits from their photo by every hash, so neither split nor the
    audit paired them where the features disagree (as a turn makes them). Their turned or
    trimmed hash within ``hash_strict`` bits makes them near-duplicates, as a re-saved copy's
    whole hash does: a leak across splits, which the plan removes."""
    from PIL import ImageOps

    from objrec.audit.copies import duplicate_groups
    from objrec.audit.inventory import Inventory, Item

    folder = tmp_path / "anchor"
    folder.mkdir()
    original = pattern(COLOURS["red"], 7, size=(240, 200))
    original.save(folder / "0.png")
    ImageOps.pad(original, (240, 240), color="black").save(folder / "1.jpg", quality=85)
    original.transpose(Image.Transpose.ROTATE_90).save(folder / "2.jpg", quality=85)
    pattern(COLOURS["red"], 8, size=(240, 200)).save(folder / "3.png")
    facts = [image_facts.image_facts(p) for p in sorted(folder.iterdir())]
    assert min(dedup.hash_distance(facts[0], f) for f in facts[1:3]) > dedup.HASH_SPLIT
    unit = np.eye(4, dtype=np.float32)  # features that disagree
    items = [Item(p, f"anchor/{p.name}", 0, None) for p in sorted(folder.iterdir())]
    inv = Inventory(tmp_path, ("anchor",), items, False)
    copies, alike = duplicate_groups(inv, np.arange(4), unit, facts, dedup.DuplicateRule(), None)
    assert [sorted(g.indices) for g in copies] == [[0, 1, 2]] and alike == []


def flipped(value: int, bits: range) -> int:
    """``value`` with ``bits`` flipped."""
    return value ^ sum(1 << b for b in bits)


def pairs_planted() -> list:
    """40 images' random facts, some planted near another: by the whole hash (3 ~ 31 ~ 36, 3 and
    36 apart), the mirror's (from 5, 32 is far; from 7, 33 near), a crop's (9 ~ 34, 11 ~ 35), a
    turn's (26 turned is 14), the trimmed hash (27 trimmed is 16, at the limit; 28 a bit past
    it from 17; 28 and 29 trimmed alike); 37 unreadable, 38 without crops, 39 a twin of 20."""
    rng = np.random.default_rng(0)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(6 * 40))
    facts = [
        image_facts.ImageFacts(64, 56, next(values), next(values), 30.0, tuple(islice(values, 4)))
        for _ in range(40)
    ]

    def change(i, **values):
        facts[i] = replace(facts[i], **values)

    change(31, phash=flipped(facts[3].phash, range(14)))
    change(36, phash=flipped(facts[31].phash, range(14, 34)))
    change(32, phash=flipped(facts[5].phash_mirror, range(5)))
    change(33, phash_mirror=flipped(facts[7].phash, range(5)))
    change(34, crops=(flipped(facts[9].phash, range(20)), *facts[34].crops[1:]))
    change(35, phash=flipped(facts[11].crops[2], range(20)))
    facts[37] = replace(facts[3], error="unreadable")
    facts[38] = replace(facts[12], phash=flipped(facts[12].phash, range(3)), crops=())
    facts[39] = facts[20]
    change(26, turns=(0, flipped(facts[14].phash, range(20)), 1))
    change(27, trimmed=flipped(facts[16].phash, range(24)))
    change(28, trimmed=flipped(facts[17].phash, range(25)))
    change(29, trimmed=flipped(facts[28].trimmed, range(230, 240)))
    return facts


@pytest.mark.slow  # 0.18-0.25 s on 2 loaded cores (0.12 s before the turned and trimmed)
def test_the_pairs_of_some_images_are_all_pairs_holding_them():
    """hash_pairs, reframed_pairs, crop_pairs and split_pairs with ``rows`` measure those images
    against all and give the rows all pairs give (a hash distance measured either way round, a
    mirror's hash against the other's hash too: review65a L5, which paired 5 and 32; a turned or
    trimmed one either way); linked_pairs follows them to their whole groups."""
    facts = pairs_planted()
    everything = dedup.split_pairs(facts)
    assert everything == [
        *[(3, 31), (5, 32), (7, 33), (9, 34), (11, 35), (12, 38), (14, 26), (16, 27), (20, 39)],
        *[(28, 29), (31, 36)],
    ]
    some = ([], [32], [5, 32], [33], [3, 31, 34, 37], [35, 9, 39], [14, 29], range(0, 40, 3))
    for rows in map(list, some):
        holding = set(rows)
        for pairs, full in [
            (dedup.hash_pairs(facts, 40, rows=rows), dedup.hash_pairs(facts, 40)),
            (dedup.crop_pairs(facts, 32, rows=rows), dedup.crop_pairs(facts, 32)),
            (dedup.reframed_pairs(facts, 24, rows=rows), dedup.reframed_pairs(facts, 24)),
        ]:
            assert pairs.tolist() == [row for row in full.tolist() if holding & set(row[:2])]
        assert dedup.split_pairs(facts, rows) == [p for p in everything if holding & set(p)]
    assert dedup.linked_pairs(facts, [36]) == [(3, 31), (31, 36)]
    assert dedup.linked_pairs(facts, [39, 32, 0]) == [(5, 32), (20, 39)]
    assert dedup.linked_pairs(facts, range(40)) == everything


@pytest.mark.slow  # 0.75 s on 2 loaded cores
def test_split_pairs_tell_their_progress_block_by_block():
    """All pairs of 60,000 images take 20 minutes on 2 cores (every image against every other):
    split_pairs tells the rows measured after each block, the whole hashes, then the turned and
    trimmed ones, then the crops, each row counted once a pass; with ``rows``, only those rows
    (what add measures)."""
    rng = np.random.default_rng(3)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(6 * 300))
    facts = [
        image_facts.ImageFacts(64, 56, next(values), next(values), 30.0, tuple(islice(values, 4)))
        for _ in range(300)
    ]
    told: list[tuple[int, int]] = []
    assert dedup.split_pairs(facts, on_row=lambda *step: told.append(step)) == []
    assert told == [(256, 900), (300, 900), (600, 900), (900, 900)]  # blocks of 256, then 512
    told.clear()
    dedup.split_pairs(facts, rows=[7, 3, 7, 9], on_row=lambda *step: told.append(step))
    assert told == [(3, 9), (6, 9), (9, 9)]


def test_crop_pairs_are_every_pair_within_the_limit_measured_one_by_one():
    """crop_pairs measures half the bits first and the rest only where that half is near enough:
    exact, so it finds every pair ``crop_distance`` puts within the limit, even one exactly at
    the limit with every differing bit in the half measured first (the highest 128 bits: a
    hash's first signs), and none a bit beyond it."""
    rng = np.random.default_rng(5)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(22 * 40))
    facts = [
        image_facts.ImageFacts(64, 56, next(values), next(values), 30.0, tuple(islice(values, 20)))
        for _ in range(40)
    ]
    limit, top = dedup.CROP_SPLIT, image_facts.HASH_SIZE**2 - 1
    plants = {
        (1, 2): (0, range(top - limit + 1, top + 1)),  # at the limit, all in the first half
        (3, 4): (9, range(top - limit, top + 1)),  # one bit beyond: not a pair
        (5, 6): (12, range(limit)),  # at the limit, all in the second half
        (7, 8): (19, range(0, 2 * limit, 2)),
    }
    for (i, j), (c, bits) in plants.items():
        facts[j] = replace(facts[j], phash=flipped(facts[i].crops[c], bits))
    facts[10] = replace(facts[10], phash_mirror=flipped(facts[11].crops[3], range(100, 132)))
    expected = [
        [i, j]
        for i in range(40)
        for j in range(i + 1, 40)
        if dedup.crop_distance(facts[i], facts[j]) <= limit
    ]
    assert expected == [[1, 2], [5, 6], [7, 8], [10, 11]]
    assert dedup.crop_pairs(facts, limit).tolist() == expected
    assert dedup.crop_pairs(facts, limit, rows=[2, 4, 11]).tolist() == [[1, 2], [10, 11]]


def test_hash_pairs_are_every_pair_within_the_limit_measured_one_by_one():
    """hash_pairs measures half the bits first, as crop_pairs does: exact, so it finds every pair
    ``hash_distance`` puts within the limit, with that distance (the nearer of hash and mirrored
    hash), even one exactly at the limit with every differing bit in the half measured first, and
    none a bit beyond it; and a loose limit most pairs pass (72, 128 bits) gives them all."""
    rng = np.random.default_rng(7)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(2 * 40))
    facts = [image_facts.ImageFacts(64, 56, next(values), next(values), 30.0) for _ in range(40)]
    limit, top = dedup.HASH_SPLIT, image_facts.HASH_SIZE**2 - 1
    plants = {
        (1, 2): range(top - limit + 1, top + 1),  # at the limit, all in the first half
        (3, 4): range(top - limit, top + 1),  # one bit beyond: not a pair
        (5, 6): range(limit),  # at the limit, all in the second half
        (7, 8): range(0, 2 * limit, 2),
    }
    for (i, j), bits in plants.items():
        facts[j] = replace(facts[j], phash=flipped(facts[i].phash, bits))
    facts[10] = replace(facts[10], phash_mirror=flipped(facts[11].phash, range(120, 140)))
    facts[12] = replace(facts[12], phash=flipped(facts[13].phash_mirror, range(110, 134)))
    facts[14] = replace(facts[14], phash=flipped(facts[15].phash, range(4)), phash_mirror=0)
    found = {}
    for limit in (dedup.HASH_SPLIT, 72, 128):
        expected = [
            [i, j, dedup.hash_distance(facts[i], facts[j])]
            for i in range(40)
            for j in range(i + 1, 40)
            if dedup.hash_distance(facts[i], facts[j]) <= limit
        ]
        assert dedup.hash_pairs(facts, limit).tolist() == expected
        found[limit] = [(i, j) for i, j, _ in expected]
    # 10's mirror near 11's hash pairs them too: either way round (review65a L5)
    assert found[dedup.HASH_SPLIT] == [(1, 2), (5, 6), (7, 8), (10, 11), (12, 13), (14, 15)]
    assert len(found[72]) == 7 and len(found[128]) == 697  # 592 one way round
    assert dedup.hash_pairs(facts, dedup.HASH_SPLIT, rows=[2, 4, 13]).tolist() == [
        [1, 2, 24],
        [12, 13, 24],
    ]


def test_a_crop_an_image_lacks_is_near_nothing_not_a_blank_hash():
    """Facts measured with fewer crops (4 centre crops, not 16) are compared by the crops they
    have: the crops they lack are left out of the products, never taken as the hash 0, which
    is within a bit of a blank image's whole hash (its only bit set is the DC's)."""
    rng = np.random.default_rng(1)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(18 * 30))
    facts = [
        image_facts.ImageFacts(64, 56, next(values), next(values), 30.0, tuple(islice(values, 16)))
        for _ in range(30)
    ]
    blank = 1 << (image_facts.HASH_SIZE**2 - 1)
    facts[4] = replace(facts[4], phash=blank, phash_mirror=blank, contrast=0.0)
    facts[20] = replace(facts[20], crops=facts[20].crops[:4])  # measured before the edge cuts
    facts[25] = replace(facts[25], crops=(*facts[25].crops[:9], flipped(facts[2].phash, [1])))
    for rows, pairs in ((None, [[2, 25]]), ([4], []), ([20], []), ([4, 20, 25], [[2, 25]])):
        assert dedup.crop_pairs(facts, dedup.CROP_SPLIT, rows=rows).tolist() == pairs


def test_a_mirrored_centre_crop_is_compared_with_the_mirrored_whole_hash_only():
    """One image's whole hash against the other's mirrored centre crop measures what its mirrored
    whole hash against the centre crop does (one image mirrored): on Caltech-101 it found no pair
    the other missed, and was 4 of split's 40 hash products: left out. The mirrored whole hash
    against the mirrored crop stays (it found 4 pairs the whole against the crop missed)."""
    rng = np.random.default_rng(3)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(22 * 4))
    facts = [
        image_facts.ImageFacts(64, 56, next(values), next(values), 30.0, tuple(islice(values, 20)))
        for _ in range(4)
    ]
    mirrored = 3  # the 90% centre crop's mirror
    facts[1] = replace(facts[1], phash=facts[0].crops[mirrored])
    facts[3] = replace(facts[3], phash_mirror=facts[2].crops[mirrored])
    assert dedup.crop_distance(facts[0], facts[1]) > dedup.CROP_SPLIT
    assert dedup.crop_distance(facts[2], facts[3]) == 0
    for rows, pairs in ((None, [[2, 3]]), ([1], []), ([0, 1], []), ([3], [[2, 3]])):
        assert dedup.crop_pairs(facts, dedup.CROP_SPLIT, rows=rows).tolist() == pairs
    assert dedup.split_pairs(facts) == [(2, 3)]


@pytest.mark.slow
def test_an_images_neighbours_are_the_others_even_beside_a_byte_copy():
    """The first neighbour was dropped as the image itself; of identical rows the copy may come
    first, so a byte copy planted in another class counted itself among its neighbours (its given
    label's share up) and its twin not at all (the newcomer's missed elephant)."""
    from objrec import dedup

    rng = np.random.default_rng(0)
    unit = dedup.normalise(rng.normal(size=(40, 8)))
    unit[[3, 17, 29]] = unit[5]  # four identical rows
    sims, idx = dedup.feature_neighbours(unit, 5)
    assert idx.shape == sims.shape == (40, 5)
    assert not (idx == np.arange(40)[:, None]).any()  # no row is its own neighbour
    for row in (3, 5, 17, 29):
        assert set(idx[row, :3]) == {3, 5, 17, 29} - {row} and np.allclose(sims[row, :3], 1)


@pytest.mark.slow
def test_the_crop_search_keeps_every_images_crop_hashes_as_bits_not_signs():
    """crop_pairs held each image's 20 crop hashes as float32 signs, 20 KiB an image (1.2 GiB of
    split's 2.2 GiB peak at 60,000 images); it keeps them as bits (640 bytes an image) and makes
    a block's signs at a time: 1,200 images' search peaked at 30.4 MiB, now 7.7."""
    import tracemalloc

    rng = np.random.default_rng(8)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(22 * 1200))
    facts = [
        image_facts.ImageFacts(64, 56, next(values), next(values), 30.0, tuple(islice(values, 20)))
        for _ in range(1200)
    ]
    for rows in (None, [5, 700]):
        tracemalloc.start()
        dedup.crop_pairs(facts, dedup.CROP_SPLIT, rows=rows)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 15 * 2**20


def test_a_pair_split_kept_together_as_copies_is_no_look_alike(tmp_path):
    """split kept anchor 0008 and 0017 (one drawing recoloured) together as duplicates alike by
    their hashes; the audit called them look-alikes, "remove it only if it is the same picture".
    A look-alike pair that split pairs and its manifest groups together is a
    near-duplicate pair; one the manifest does not group, or a file changed since, stays."""
    from objrec.audit.copies import split_copies
    from objrec.dedup import Pair
    from objrec.manifest import sha256_file

    data = tmp_path / "data"
    files = [data / "train" / "anchor" / f"{n}.jpg" for n in ("a", "b", "c", "d")]
    files[0].parent.mkdir(parents=True)
    for n, f in enumerate(files):
        f.write_bytes(bytes([n]) * 10)
    digests = [sha256_file(f) for f in files]
    rows = [
        f"train/anchor/{f.name},anchor,train,{d},x,{g}"
        for f, d, g in zip(files, digests, ("0", "0", "1", "2"), strict=True)
    ]
    (data / "manifest.csv").write_text("file,class,split,sha256,source,group\n" + "\n".join(rows))
    alike = Pair(0, 1, 0.683, 6, 8, look_alike=True, kept_by_split=True)
    apart = Pair(2, 3, 0.7, 6, 8, look_alike=True, kept_by_split=True)  # split grouped apart
    features = Pair(0, 2, 0.8, 20, 20, look_alike=True)  # alike by features only
    found = split_copies([alike, apart, features], files, digests)
    assert [p.look_alike for p in found] == [False, True, True]
    ship = data / "train" / "ship" / "e.jpg"  # in group 0 too, of another class
    ship.parent.mkdir()
    ship.write_bytes(bytes([1]) * 10)
    with (data / "manifest.csv").open("a") as manifest:
        manifest.write(f"\ntrain/ship/e.jpg,ship,train,{digests[1]},x,0")
    across = [files[0], ship, *files[2:]]
    assert split_copies([alike], [files[0], files[1], *files[2:]], digests)[0].look_alike is False
    assert [p.look_alike for p in split_copies([alike], across, digests)] == [True]
    changed = [digests[0], "0" * 64, *digests[2:]]  # b.jpg is not what split saw
    assert [p.look_alike for p in split_copies([alike], files, changed)] == [True]


@pytest.mark.slow
def test_only_the_rows_near_a_copy_group_search_again_and_each_group_is_one_neighbour(
    monkeypatch,
):
    """One group of 1,500 copies among 6,000 rows made every row's nearest-neighbour search run
    again 1,509 wide: (6000, 1509) held at once (review54a M2). Only the rows whose nearest hold a
    row of their own group or two of one group are searched again, a chunk at a time, and each
    row's neighbours are one of each other group, its nearest member, as a full search says."""
    import objrec.audit.copies as audit_module

    rng = np.random.default_rng(0)
    n, big = 600, 150
    unit = dedup.normalise(rng.normal(size=(n, 16)).astype(np.float32))
    unit[:big] = unit[0]
    unit[big : big + 3] = unit[big]  # a group of 3
    group = np.arange(n)
    group[:big], group[big : big + 3] = 0, big
    near = dedup.feature_neighbours(unit, 10)
    searched = []
    original = audit_module.nearest_of_other_groups

    def spy(unit, rows, *args):
        searched.append(len(rows))
        return original(unit, rows, *args)

    monkeypatch.setattr(audit_module, "nearest_of_other_groups", spy)
    monkeypatch.setattr(audit_module, "OUTSIDE_CHUNK", 64)
    found = audit_module.outside_groups(unit, near, group)
    assert found.idx.shape == (n, 10)
    assert max(searched) <= 64
    theirs = group[near.idx]
    own_or_twice = [
        (theirs[r] == group[r]).any() or len(set(theirs[r].tolist())) < 10 for r in range(n)
    ]
    assert sum(searched) == sum(own_or_twice) < n / 2
    sims = unit @ unit.T
    for r in range(n):  # a full search: each other group's nearest member, nearest first
        best: dict[int, tuple[float, int]] = {}
        for j in np.argsort(-sims[r], kind="stable").tolist():
            if group[j] != group[r] and group[j] not in best:
                best[int(group[j])] = (float(sims[r, j]), j)
        expected = sorted(best.values(), key=lambda sj: -sj[0])[:10]
        assert np.allclose(found.sims[r], [s for s, _ in expected], atol=1e-5), r
        assert len(set(group[found.idx[r]].tolist())) == 10 and group[r] not in group[found.idx[r]]


def test_a_trimmed_hash_near_a_centre_crop_pairs_in_bulk_as_one_by_one():
    """A copy whose own edge a flat border covers has a trimmed hash near a centre crop of its
    photo (its mirror's, mirrored): crop_pairs finds what crop_distance measures one pair at a
    time, with rows too; a trimmed hash near an edge cut, or beyond the limit, is no pair."""
    rng = np.random.default_rng(11)
    values = iter(int.from_bytes(rng.bytes(32), "big") for _ in range(22 * 30))
    facts = [
        image_facts.ImageFacts(64, 56, next(values), next(values), 30.0, tuple(islice(values, 20)))
        for _ in range(30)
    ]
    limit, edge = dedup.CROP_SPLIT, image_facts.CENTRE_CROPS
    plants = {(1, 2): (0, limit), (4, 3): (3, 20), (5, 6): (6, limit + 1), (7, 8): (edge, 2)}
    for (i, j), (c, bits) in plants.items():
        facts[j] = replace(facts[j], trimmed=flipped(facts[i].crops[c], range(bits)))
    facts[9] = replace(facts[9], trimmed=flipped(facts[10].phash, range(30)))  # not a crop
    expected = [
        [i, j]
        for i in range(30)
        for j in range(i + 1, 30)
        if dedup.crop_distance(facts[i], facts[j]) <= limit
    ]
    assert expected == [[1, 2], [3, 4]]
    assert dedup.crop_pairs(facts, limit).tolist() == expected
    for rows in ([2], [3], [1, 9], [6, 8, 10]):
        assert dedup.crop_pairs(facts, limit, rows=rows).tolist() == [
            p for p in expected if set(rows) & set(p)
        ]
    assert dedup.split_pairs(facts) == [(1, 2), (3, 4)]


def test_a_mirrored_copy_pairs_whichever_image_comes_first():
    """review65a L5: ``hash_distance`` measured one image's hash against the other's hash and
    mirrored hash only, so a mirrored copy whose own mirror's hash is near the other's hash paired
    in one folder order and not the other, and split, add and a later audit could disagree on a
    leak. Both orders pair now, by the function and by ``split_pairs``' matrix products."""
    rng = np.random.default_rng(5)

    def bits() -> int:
        return int.from_bytes(rng.bytes(dedup.HASH_SIZE**2 // 8), "big")

    near = bits()
    a = image_facts.ImageFacts(64, 56, bits(), near, 30.0)
    b = image_facts.ImageFacts(64, 56, near ^ 0b111, bits(), 30.0)  # b's hash: a's mirror's
    assert int(a.phash ^ b.phash).bit_count() > dedup.HASH_SPLIT  # unalike as they are
    assert dedup.hash_distance(a, b) == dedup.hash_distance(b, a) == 3
    assert dedup.split_paired(a, b) and dedup.split_paired(b, a)
    assert dedup.split_pairs([a, b]) == dedup.split_pairs([b, a]) == [(0, 1)]
    assert dedup.split_pairs([a, b], rows=[1]) == dedup.split_pairs([b, a], rows=[1]) == [(0, 1)]
