"""Near-duplicate images: perceptual hashes, feature neighbours, and the groups they form.

Three signals, each catching what the others miss:

* a perceptual hash (``imagehash.phash``, 256 bits, of the image and of its mirror), which needs
  no model and survives resizing, re-encoding and colour changes; ``split`` uses the hashes
  alone (this one and the crops' below), so a re-saved or mirrored copy never lands on the other
  side of a split. A pHash is not turned with its image, nor trimmed: the image turned a quarter,
  a half and three quarters of a turn (a copy stored sideways, its EXIF orientation lost) and
  the image with its flat border trimmed (a letterbox's bars, a scan's margin) have hashes of
  their own, compared with the other image's whole (``reframed_pairs``);
* cosine similarity of frozen-backbone features (a scikit-learn ``NearestNeighbors`` index), which
  roughly survives crops; ``audit`` combines it with the hashes;
* for crops, which move every pixel of the whole-image hash, the hash of each image's centre
  (``CROP_KEEP``) and of it with a strip cut off one edge (``EDGE_CUTS``) compared with the other
  image's whole hash: a copy cropped by about that much is that part of the original. ``split``
  uses it too; ``audit`` calls a pair near-duplicates by it only where their features already
  agree, and every other pair ``split`` keeps together (``split_pairs``) look-alikes, to check.

The thresholds are chosen on data (``benchmarks/audit.py``, ``benchmarks/README.md``).

Each image's hashes are measured in ``objrec.image_facts`` and kept in ``objrec.facts_store``;
this module compares them: the pairs ``split`` keeps together (:func:`split_pairs`,
:func:`candidate_pairs`), the audit's near-duplicates and look-alikes (:func:`duplicate_pairs`)
and the groups pairs make (:func:`groups_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from objrec.config import check_field_types
from objrec.image_facts import (
    CENTRE_CROPS,
    HASH_SIZE,
    TURNS,
    ImageFacts,
    hash_tells,
    mirrored_crop,
)

HASH_SPLIT = 24
"""Hash distance (bits of 256) at or below which ``split`` keeps two images together."""
CROP_SPLIT = 32
"""``split`` also keeps together two images when one's whole hash is within this many bits of a
crop hash of the other (``crop_distance``): the audit's ``crop_hash`` without its feature gate.
On the 100-class Caltech-101 protocol (6,179 images) the centre crops group 3 pairs beyond the
whole hash, each the same picture (recropped, framed, recoloured), and find 100 of 100 copies with
10% cropped off (``benchmarks/split_crop_hash.py``, ``benchmarks/README.md``). The ``EDGE_CUTS``
crops group 16 more pairs or triples there and join one more image to a group: looked at, 14 of
the 17 are one picture (a caption strip cut off, recropped, recoloured), 3 different photos of
one motorbike or airliner model in one pose. The 95% and 85% centre crops group 14 more pairs
there, all within a class: about half one picture (recropped, framed, the background or the bike
recoloured), the others look-alikes (two anchors, two pianos, yin-yang drawings)."""
NEIGHBOURS = 10
"""Feature neighbours examined per image."""


@dataclass(frozen=True)
class DuplicateRule:
    """When two images are near-duplicates (copies of one picture: either signal strongly, or the
    features and the centre-crop hash), and when they only look alike (both signals moderately).

    Only the first is a possible leak. On the development injection (``benchmarks/audit.py --seed
    1``) all 100 injected copies meet ``duplicate``: the look-alike bounds add none of them, and
    make 50 groups of their own. Of 24 of those drawn at random and looked at, 2 were one picture,
    7 another shot of the same thing and 15 different objects of one kind (another motorbike of
    one model, another dollar bill, another stop-sign drawing): the signals cannot tell these
    apart, so the audit shows them to check, not as leaks (``benchmarks/README.md``)."""

    sim_strict: float = 0.95
    """Cosine similarity of features at or above which two images are near-duplicates. Chosen on a
    development injection (``benchmarks/audit_choices.py --seed 1``, the default three-body
    features): with the crop hash below, 0.95 finds the same 100 of 100 injected pairs as 0.93 and
    flags 45 fewer other pairs (most of them different photos of one class)."""
    sim_loose: float = 0.90
    """Similarity at or above which, with a hash within ``hash_loose``, two images look alike."""
    hash_strict: int = 24
    """Perceptual-hash distance (bits of 256) at or below which they are, whatever the features."""
    hash_loose: int = 64
    """At or below this distance, a similarity of ``sim_loose`` makes two images look alike:
    the look-alikes looked at on Caltech-101 were 32-64 bits apart whether one picture or two
    different motorbikes (the demo's two: 46 bits at 160 px, 42 at full size)."""
    sim_crop: float = 0.85
    """Features at least this similar, and ``crop_hash`` ..."""
    crop_hash: int = 32
    """... a centre-crop hash within this many bits of the other's whole hash: a cropped copy.
    On the development injection the 20 copies with 10% cropped off were 0-28 bits from their
    original this way (and 44-114 bits by the whole-image hash); of the 3,395 other close pairs
    at similarity 0.85 or more, 6 were within 32 bits (5 of them flagged by the rest of the rule
    anyway)."""
    kept_by_split: bool = True
    """A pair ``split`` keeps in one split (``split_pairs``) that the rest of the rule calls
    neither is a look-alike too, so the audit shows every pair ``split`` pairs. ``split`` keeps
    together, by a crop hash alone, copies whose features disagree: Caltech-101's anchor 0008 and
    0017, one drawing red on white and brown on blue (similarity 0.68, 95% crop hash 24 bits), was
    in no audit file. Not near-duplicates (which the plan removes across splits and classes): of
    the 9 such pairs of the 100-class protocol (``/work/splits/s0``), 3 were one picture (those
    anchors, a recropped inline skate, a recoloured motorbike), 6 two photos of one model (two
    grand pianos, motorbikes, watches, nautilus drawings). False: the rule's numbers alone."""

    def __post_init__(self) -> None:
        check_field_types(self)

    def __call__(self, similarity: float, distance: int, crop: int = HASH_SIZE**2) -> bool:
        """Near-duplicates or look-alikes by the numbers (``duplicate_pairs`` adds the pairs
        ``split`` keeps together: ``kept_by_split``)."""
        return self.duplicate(similarity, distance, crop) or self.look_alike(similarity, distance)

    def duplicate(self, similarity: float, distance: int, crop: int = HASH_SIZE**2) -> bool:
        """Copies of one picture: resized, re-encoded, mirrored, turned, letterboxed, recoloured
        or cropped."""
        return (
            similarity >= self.sim_strict
            or distance <= self.hash_strict
            or (similarity >= self.sim_crop and crop <= self.crop_hash)
        )

    def look_alike(self, similarity: float, distance: int) -> bool:
        """Alike by both signals moderately: one picture or two, which only a look tells."""
        return similarity >= self.sim_loose and distance <= self.hash_loose

    @property
    def sim_candidate(self) -> float:
        """The lowest similarity any part of the rule accepts."""
        return min(self.sim_strict, self.sim_loose, self.sim_crop)


def _signs(values: Sequence[int]) -> np.ndarray:
    """(N, HASH_SIZE ** 2) float32 of +1/-1, one per bit: the Hamming distance of two hashes is
    ``(bits - a @ b) / 2``, so a matrix product measures a block against all at once."""
    return _unpacked(_packed(values))


def _packed(values: Sequence[int]) -> np.ndarray:
    """(N, HASH_SIZE ** 2 / 8) uint8: each hash's bits, first bit highest, 32 bytes a hash
    where its signs take 1 KiB."""
    nbytes = HASH_SIZE * HASH_SIZE // 8
    raw = np.frombuffer(b"".join(int(v).to_bytes(nbytes, "big") for v in values), np.uint8)
    return raw.reshape(len(values), nbytes)


def _unpacked(packed: np.ndarray) -> np.ndarray:
    """:func:`_signs` of hashes ``_packed`` them."""
    return 1 - 2 * np.unpackbits(packed, axis=1).astype(np.float32)


def _row_indices(n: int, rows: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """The rows to measure against every image: all of them, or ``rows`` (sorted, once each)."""
    return np.arange(n) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))


def hash_pairs(
    facts: Sequence[ImageFacts],
    max_distance: int,
    chunk: int = 256,
    rows: Sequence[int] | np.ndarray | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(P, 3) rows ``i, j, distance`` with i < j for every pair within ``max_distance`` bits,
    sorted; with ``rows``, only the pairs holding one of those images (the others' pairs are
    never measured: the same rows as all pairs' that hold one of ``rows``). ``on_rows(n)``: told
    after each block of ``n`` rows measured, for a progress bar.

    The distance is the smaller of hash-to-hash and hash-to-mirrored-hash, so a mirrored copy is
    as close as a resized one. Matrix products in chunks, half the bits first
    (:func:`_at_least`): 6,000 images take well under a second.
    """
    readable = np.array([hash_tells(f) for f in facts])
    h = _signs([f.phash for f in facts])
    m = _signs([f.phash_mirror for f in facts])
    mine = _row_indices(len(facts), rows)
    others = np.ones(len(facts), dtype=bool)
    others[mine] = False  # a pair of two of ``mine`` is kept from its first image's row only
    found = [np.zeros((0, 3), dtype=np.int64)]
    for start in range(0, len(mine), chunk):
        index = mine[start : start + chunk]
        i, j, dist = _hashes_near(h, m, index, max_distance, all_rows=rows is None)
        keep = ((i < j) | others[j]) & readable[i] & readable[j]
        i, j, dist = i[keep], j[keep], dist[keep]
        found.append(np.stack([np.minimum(i, j), np.maximum(i, j), dist], 1))
        if on_rows:
            on_rows(len(index))
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def _hashes_near(
    h: np.ndarray, m: np.ndarray, index: np.ndarray, max_distance: int, all_rows: bool
):
    """Images ``i`` (of ``index``), ``j`` (of all) and their distance, for every pair within
    ``max_distance`` bits (:func:`hash_distance`): their hashes, and each one's hash against the
    other's mirrored hash, either way round (a mirror's pHash is not its hash's bits mirrored).
    ``all_rows``: every row is measured, so the pairs to lower indices are never needed."""
    bits = h.shape[1]
    least = bits - 2 * max_distance  # a @ b at or above this: within max_distance bits
    at = [_at_least(h[index], h.T, least)]
    for mine, theirs in ((h, m), (m, h)):  # our hash against their mirror's, and the reverse
        r, c, s = _at_least(mine[index], theirs.T, least)
        other = (c > index[r]) | ((c < index[r]) & (not all_rows))
        at.append((r[other], c[other], s[other]))
    r, c, s = (np.concatenate(parts) for parts in zip(*at, strict=True))
    order = np.lexsort((-s, c, r))  # each pair's nearest first
    r, c, s = r[order], c[order], s[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return index[r[first]], c[first], ((bits - s[first]) // 2).astype(np.int64)


def crop_pairs(
    facts: Sequence[ImageFacts],
    max_distance: int,
    chunk: int = 512,
    rows: Sequence[int] | np.ndarray | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(P, 2) rows ``i, j`` with i < j for every pair whose ``crop_distance`` is at most
    ``max_distance`` (with ``rows``, every such pair holding one of those images): one image's
    crop hashes against the other's whole hash (or its mirror's), as matrix products in blocks.
    Every image against every other: 6,000 images take a few seconds, 60,000 a hundred times
    that (``benchmarks/README.md``), hence ``on_rows(n)``, told after each block of ``n`` rows."""
    usable = np.array([hash_tells(f) and bool(f.crops) for f in facts])
    if len(facts) < 2 or not usable.any():
        return np.zeros((0, 2), dtype=np.int64)
    wholes = [_every([f.phash for f in facts]), _every([f.phash_mirror for f in facts])]
    inside = _trimmed_of(facts, usable)
    crops = [
        (*_nth_bits([f.crops for f in facts], usable, c), _compared_with(c, wholes, inside))
        for c in range(max(len(f.crops) for f in facts))
    ]
    return _probed_pairs(crops, usable, max_distance, chunk, rows, on_rows)


class _Compared(NamedTuple):
    """Hashes a probe (a crop, a turn) is compared with: their signs as columns (``_signs(...).T``)
    and the image each column is of, every image's or those of some (the trimmed hashes: a
    third of Caltech-101's images have one, so their products are a third as long)."""

    signs: np.ndarray
    images: np.ndarray


def _every(values: Sequence[int]) -> _Compared:
    """Every image's hash of ``values`` (one an image), to compare probes with."""
    return _Compared(_signs(values).T, np.arange(len(values)))


def _trimmed_of(facts: Sequence[ImageFacts], usable: np.ndarray) -> _Compared | None:
    """The trimmed hashes of the ``usable`` images that have one, None where none has."""
    images = np.flatnonzero(usable & np.array([f.trimmed != 0 for f in facts]))
    if not len(images):
        return None
    return _Compared(_signs([facts[i].trimmed for i in images.tolist()]).T, images)


def _compared_with(c: int, wholes: list[_Compared], inside: _Compared | None) -> list[_Compared]:
    """What crop hash ``c`` is compared with, as :func:`crop_distance` compares it: the other
    image's whole hash and its mirror's (a mirrored centre crop its mirror's alone:
    :func:`image_facts.mirrored_crop`), and a centre crop the other's trimmed hash too
    (:data:`image_facts.CENTRE_CROPS`)."""
    compared = wholes[mirrored_crop(c) :]
    return [*compared, inside] if inside is not None and c < CENTRE_CROPS else compared


def reframed_pairs(
    facts: Sequence[ImageFacts],
    max_distance: int,
    chunk: int = 512,
    rows: Sequence[int] | np.ndarray | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> np.ndarray:
    """(P, 2) rows ``i, j`` with i < j for every pair whose ``reframed_distance`` is at most
    ``max_distance`` (with ``rows``, every such pair holding one of those images), as
    ``crop_pairs`` finds its own: each turn's hash against the other's whole hash, the trimmed
    hash against the other's whole and trimmed hashes. ``on_rows`` as ``crop_pairs``'."""
    usable = np.array([hash_tells(f) for f in facts])
    if len(facts) < 2 or not usable.any():
        return np.zeros((0, 2), dtype=np.int64)
    whole = _every([f.phash for f in facts])
    trimmed = np.array([u and f.trimmed != 0 for f, u in zip(facts, usable, strict=True)])
    inside = _packed([f.trimmed or f.phash for f in facts])
    turns = [f.turns for f in facts]
    probes = [(*_nth_bits(turns, usable, t), [whole]) for t in range(len(TURNS))]
    probes.append((inside, trimmed, [whole, _Compared(_unpacked(inside).T, whole.images)]))
    return _probed_pairs(probes, usable, max_distance, chunk, rows, on_rows)


def _probed_pairs(
    probes: list,
    usable: np.ndarray,
    max_distance: int,
    chunk: int,
    rows: Sequence[int] | np.ndarray | None,
    on_rows: Callable[[int], None] | None,
) -> np.ndarray:
    """(P, 2) rows ``i < j`` of the ``usable`` images where a hash of one of ``probes`` (each
    image's bits, which images have it, the hashes of all it is compared with) is within
    ``max_distance`` bits of a hash it is compared with, in blocks of ``chunk`` rows (``rows``:
    those rows alone, each compared both ways), ``on_rows(n)`` told after each block."""
    least = HASH_SIZE * HASH_SIZE - 2 * max_distance  # a @ b at or above this: within reach
    mine = _row_indices(len(usable), rows)
    found = [np.zeros((0, 2), dtype=np.int64)]
    for start in range(0, len(mine), chunk):
        index = mine[start : start + chunk]
        near = _probes_near(probes, index, least, both_ways=rows is not None)
        block_rows, cols = np.nonzero(near)
        i = index[block_rows]
        keep = (i != cols) & usable[i] & usable[cols]
        found.append(np.stack([np.minimum(i, cols), np.maximum(i, cols)], 1)[keep])
        if on_rows:
            on_rows(len(index))
    return np.unique(np.concatenate(found), axis=0)


def _nth_bits(hashes: Sequence[tuple[int, ...]], usable: np.ndarray, n: int):
    """Each image's hash ``n`` of ``hashes`` (its crops, its turns) as :func:`_packed` bits (their
    signs are made a block at a time: 20 crops' signs of every image took 20 KiB an image, 1.2
    GiB at 60,000), and which images have one (usable, and with that many: facts measured with
    fewer crops are compared by the ones they have)."""
    have = np.array([u and len(h) > n for h, u in zip(hashes, usable, strict=True)])
    return _packed([h[n] if k else 0 for h, k in zip(hashes, have, strict=True)]), have


SIGN_ROWS = 4096
"""Crop hashes made signs at once when every image's are measured against a block's wholes."""


def _probes_near(probes, index: np.ndarray, least: float, both_ways: bool) -> np.ndarray:
    """(len(index), N): whether a probe (a crop, a turn) of image ``index[r]`` is near a whole
    of image c (when every row is measured, that covers the other way round too, over the
    blocks); ``both_ways``: or a probe of c near a whole of ``index[r]``. ``probes``: each
    one's bits (:func:`_packed`), which images have it, and the wholes it is compared with."""
    near = np.zeros((len(index), len(probes[0][1])), dtype=bool)
    for bits, have, wholes in probes:
        at = np.flatnonzero(have[index])  # the rows with this crop: all but a few
        block = _unpacked(bits[index[at]])
        for whole in wholes:
            rows, cols, _ = _at_least(block, whole.signs, least)
            near[at[rows], whole.images[cols]] = True
        if both_ways:
            _near_theirs(near, (bits, have, wholes), index, least)
    return near


def _near_theirs(near: np.ndarray, probe, index: np.ndarray, least: float) -> None:
    """Mark in ``near`` (as :func:`_probes_near`'s) where ``probe`` of any image (its bits,
    which images have it, the hashes it is compared with) is near a hash of image ``index[r]``."""
    bits, have, wholes = probe
    columns = []  # each one's columns of the images of ``index``, and their rows of ``near``
    for whole in wholes:
        mine = np.flatnonzero(np.isin(index, whole.images))
        columns.append((whole.signs[:, np.searchsorted(whole.images, index[mine])], mine))
    for start in range(0, len(bits), SIGN_ROWS):
        crop = _unpacked(bits[start : start + SIGN_ROWS])
        for signs, mine in columns:
            rows, cols, _ = _at_least(crop, signs, least)
            rows += start
            near[mine[cols[have[rows]]], rows[have[rows]]] = True


def _at_least(a: np.ndarray, b: np.ndarray, least: float):
    """Rows, columns and values where ``a @ b >= least`` (``_signs`` rows against ``_signs``
    columns), exactly, in about half the time: the product over the first half of the bits, then
    the rest only where that half leaves the sum within reach (the second half adds at most its
    number of bits). Two hashes within 32 bits of 256 are within 32 of any 128; random ones,
    about 64 +- 6 of 128 apart, almost never are, so the rest is a few dot products. A limit
    that most pairs pass (a loose one: 72 bits) takes the other half's product whole."""
    half = a.shape[1] // 2
    first = a[:, :half] @ b[:half]
    reach = least - (a.shape[1] - half) - 0.5
    rows, cols = np.divmod(np.flatnonzero(first >= reach), first.shape[1])
    if len(rows) > first.size // 8:
        total = first + a[:, half:] @ b[half:]
        rows, cols = np.nonzero(total >= least - 0.5)
        return rows, cols, total[rows, cols]
    total = first[rows, cols] + np.einsum("ij,ji->i", a[rows, half:], b[half:, cols])
    keep = total >= least - 0.5
    return rows[keep], cols[keep], total[keep]


PAIR_PASSES = 3
"""The passes of ``split_pairs`` over the rows it measures: the whole hashes, the turned and
trimmed ones (``reframed_pairs``), the crops (``crop_pairs``)."""


def split_pairs(
    facts: Sequence[ImageFacts],
    rows: Sequence[int] | np.ndarray | None = None,
    on_row: Callable[[int, int], None] | None = None,
) -> list[tuple[int, int]]:
    """The pairs ``split`` keeps together: whole-image hashes within ``HASH_SPLIT`` bits, as
    they are or one image turned or trimmed (``reframed_distance``), or one image's whole hash
    within ``CROP_SPLIT`` bits of a crop hash of the other. With ``rows``, only the pairs
    holding one of those images (each measured as among all). ``on_row(done, total)``: the rows
    measured so far, for a progress bar (``total``: each row once a pass, ``PAIR_PASSES``;
    minutes with 60,000 images: every pair is measured)."""
    measured = _passes(PAIR_PASSES * len(_row_indices(len(facts), rows)), on_row)
    pairs = {
        (int(i), int(j)) for i, j, _ in hash_pairs(facts, HASH_SPLIT, rows=rows, on_rows=measured)
    }
    pairs |= {
        (int(i), int(j)) for i, j in reframed_pairs(facts, HASH_SPLIT, rows=rows, on_rows=measured)
    }
    for i, j in crop_pairs(facts, CROP_SPLIT, rows=rows, on_rows=measured):
        if crop_distance(facts[i], facts[j]) <= CROP_SPLIT:
            pairs.add((int(i), int(j)))
    return sorted(pairs)


def _passes(total: int, on_row: Callable[[int, int], None] | None) -> Callable[[int], None]:
    """``on_rows(n)`` for each pass in turn (the whole hashes', the turned and trimmed ones',
    the crops'): ``on_row(done, total)``."""
    done = [0]

    def measured(n: int) -> None:
        done[0] += n
        if on_row:
            on_row(done[0], total)

    return measured


def split_paired(a: ImageFacts, b: ImageFacts) -> bool:
    """Whether ``split_pairs`` pairs ``a`` with ``b``, whichever comes first: whole hashes within
    ``HASH_SPLIT`` bits (as they are or one mirrored: :func:`hash_distance`; or either turned or
    trimmed: :func:`reframed_distance`), or a crop hash within ``CROP_SPLIT`` bits of the other's
    whole; never a nearly blank image (:func:`hash_tells`)."""
    if not (hash_tells(a) and hash_tells(b)):
        return False
    if min(hash_distance(a, b), reframed_distance(a, b)) <= HASH_SPLIT:
        return True
    return bool(a.crops) and bool(b.crops) and crop_distance(a, b) <= CROP_SPLIT


def candidate_pairs(
    facts: Sequence[ImageFacts],
    rows: Sequence[int] | np.ndarray | None = None,
    on_row: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(P, 2) rows ``i, j`` with i < j of every pair ``split_pairs`` pairs in one order of the two
    images or the other (:func:`split_paired` decides for one order): what ``objrec.near_pairs``
    keeps, measured in one folder's order of the images, decided again in another's. With
    ``rows``, those holding one of those images; ``on_row`` as ``split_pairs``'. As fast as
    ``split_pairs``: the same products, kept either way round."""
    measured = _passes(PAIR_PASSES * len(_row_indices(len(facts), rows)), on_row)
    wholes = _whole_candidates(facts, rows, measured)
    reframed = reframed_pairs(facts, HASH_SPLIT, rows=rows, on_rows=measured)
    crops = crop_pairs(facts, CROP_SPLIT, rows=rows, on_rows=measured)
    near = [crop_distance(facts[i], facts[j]) <= CROP_SPLIT for i, j in crops]
    found = [wholes, reframed, crops[np.array(near, dtype=bool)]]
    return np.unique(np.concatenate(found), axis=0)


def _whole_candidates(
    facts: Sequence[ImageFacts],
    rows: Sequence[int] | np.ndarray | None,
    on_rows: Callable[[int], None],
    chunk: int = 256,
) -> np.ndarray:
    """(P, 2) rows i < j whose whole hashes are within ``HASH_SPLIT`` bits either way round: one's
    hash against the other's hash or mirrored hash. Every row measured: each row's hash against
    every hash and mirror covers both ways; with ``rows``, their mirrors against every hash too."""
    readable = np.array([hash_tells(f) for f in facts])
    h = _signs([f.phash for f in facts])
    m = _signs([f.phash_mirror for f in facts])
    products = [(h, h), (h, m)] + ([(m, h)] if rows is not None else [])
    least = HASH_SIZE * HASH_SIZE - 2 * HASH_SPLIT
    mine = _row_indices(len(facts), rows)
    found = [np.zeros((0, 2), dtype=np.int64)]
    for start in range(0, len(mine), chunk):
        index = mine[start : start + chunk]
        for a, b in products:
            r, c, _ = _at_least(a[index], b.T, least)
            i = index[r]
            keep = (i != c) & readable[i] & readable[c]
            found.append(np.stack([np.minimum(i, c), np.maximum(i, c)], 1)[keep])
        on_rows(len(index))
    return np.concatenate(found)


def linked_pairs(facts: Sequence[ImageFacts], start: Sequence[int]) -> list[tuple[int, int]]:
    """``split_pairs`` among the images linked to ``start`` (directly or through others): all
    the groups of ``start`` need, measuring only those images against the rest, never the pairs
    among the others. The images found near ``start`` are measured in turn, until no new one
    comes: each image of a group then has every pair it is in, so its groups are as all pairs
    make them."""
    seen = np.zeros(len(facts), dtype=bool)
    todo = _row_indices(len(facts), start)
    pairs: set[tuple[int, int]] = set()
    while len(todo):
        seen[todo] = True
        found = split_pairs(facts, rows=todo)
        pairs.update(found)
        ends = np.array(found, dtype=np.int64).ravel()
        todo = np.unique(ends[~seen[ends]])
    return sorted(pairs)


def normalise(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


class Neighbours(NamedTuple):
    """Each row's nearest other rows: cosine similarities and indices, (N, k), nearest first."""

    sims: np.ndarray
    idx: np.ndarray


def feature_neighbours(unit: np.ndarray, k: int = NEIGHBOURS) -> Neighbours:
    """Cosine similarities and indices of each row's ``k`` nearest other rows (scikit-learn)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(unit) - 1)
    if k < 1:
        return Neighbours(np.zeros((len(unit), 0), np.float32), np.zeros((len(unit), 0), np.int64))
    index = NearestNeighbors(n_neighbors=k + 1, metric="euclidean").fit(unit)
    dist, idx = index.kneighbors(unit)
    # Each row's own entry goes, not its first: of identical rows the copy may come first.
    own = idx == np.arange(len(unit))[:, None]
    own[~own.any(1), -1] = True
    others = ~own
    shape = (len(unit), k)
    return Neighbours(1 - dist[others].reshape(shape) ** 2 / 2, idx[others].reshape(shape))


@dataclass(frozen=True)
class Pair:
    i: int
    j: int
    similarity: float
    hash_distance: int
    """Bits between their whole hashes as they are, mirrored, turned or trimmed (the fewest:
    :func:`hash_distance`, :func:`reframed_distance`)."""
    crop_distance: int
    look_alike: bool = False
    """Only alike (``DuplicateRule.look_alike``, or ``kept_by_split``), not a near-duplicate."""
    kept_by_split: bool = False
    """``split_pairs`` pairs them: ``split`` keeps them in one split."""


def pair_key(i: int, j: int) -> tuple[int, int]:
    """Two images' key in a map of pairs (an audit group row's ``_pairs``), lower index first."""
    return min(i, j), max(i, j)


def hash_distance(a: ImageFacts, b: ImageFacts) -> int:
    """Bits between two images' whole hashes, as they are or one of them mirrored, either way
    round: a mirror's pHash is not its hash's bits mirrored, so ``a``'s hash against ``b``'s
    mirror and ``a``'s mirror against ``b``'s hash differ, and taking one of them paired a
    mirrored copy in one folder order and not the other (review65a L5)."""
    return min(
        int(a.phash ^ b.phash).bit_count(),
        int(a.phash ^ b.phash_mirror).bit_count(),
        int(a.phash_mirror ^ b.phash).bit_count(),
    )


def crop_distance(a: ImageFacts, b: ImageFacts) -> int:
    """Bits between one image's whole hash (or its mirror's) and a crop hash of the other, or
    between one's trimmed hash and a centre-crop hash of the other: small when one is a crop of
    the other, or the other with its own edge covered by a flat border (a cut-out's transparent
    margin read as white, a frame drawn over the photo), whose inside is a centre crop of it
    (``HASH_SIZE ** 2`` when there are no crops)."""
    distances = [
        int(whole ^ crop).bit_count()
        for x, y in ((a, b), (b, a))
        for c, crop in enumerate(y.crops)
        for whole in (x.phash, x.phash_mirror, *_inside(x, c))[mirrored_crop(c) :]
    ]
    return min(distances, default=HASH_SIZE * HASH_SIZE)


def _inside(x: ImageFacts, c: int) -> tuple[int, ...]:
    """``x``'s trimmed hash, where crop hash ``c`` of another image is compared with it: a
    centre crop (:data:`image_facts.CENTRE_CROPS`) and ``x`` with a border trimmed."""
    return (x.trimmed,) if x.trimmed and c < CENTRE_CROPS else ()


def reframed_distance(a: ImageFacts, b: ImageFacts) -> int:
    """Bits between one image turned (:attr:`ImageFacts.turns`) and the other's whole hash, or
    one trimmed (:attr:`ImageFacts.trimmed`) and the other whole or trimmed, either way round:
    small when one is the other stored sideways, or letterboxed (``HASH_SIZE ** 2`` when
    neither is measured)."""
    distances = [
        int(probe ^ target).bit_count()
        for x, y in ((a, b), (b, a))
        for probe, targets in _reframed_probes(x, y)
        for target in targets
    ]
    return min(distances, default=HASH_SIZE * HASH_SIZE)


def _reframed_probes(x: ImageFacts, y: ImageFacts) -> list[tuple[int, tuple[int, ...]]]:
    """``x``'s turned and trimmed hashes, each with the hashes of ``y`` it is compared with."""
    probes: list[tuple[int, tuple[int, ...]]] = [(turn, (y.phash,)) for turn in x.turns]
    if x.trimmed:
        probes.append((x.trimmed, (y.phash, y.trimmed or y.phash)))
    return probes


def duplicate_pairs(
    unit: np.ndarray,
    facts: Sequence[ImageFacts],
    rule: DuplicateRule = DuplicateRule(),
    near: Neighbours | None = None,
) -> list[Pair]:
    """Every pair that ``rule`` calls near-duplicates or look-alikes (``Pair.look_alike``), from
    feature neighbours (``near``, else computed) and from hash neighbours: among them every pair
    ``split`` keeps together (``split_pairs``, ``Pair.kept_by_split``), by split's own rule."""
    sims, idx = near if near is not None else feature_neighbours(unit)
    candidates = {
        (min(i, int(j)), max(i, int(j)))
        for i in range(len(unit))
        for j, s in zip(idx[i], sims[i], strict=True)
        if s >= rule.sim_candidate
    }
    kept = set(split_pairs(facts))  # every pair within HASH_SPLIT bits among them
    candidates |= kept
    if rule.hash_strict > HASH_SPLIT:
        candidates |= {(int(i), int(j)) for i, j, _ in hash_pairs(facts, rule.hash_strict)}
    pairs = []
    for i, j in sorted(candidates):
        if facts[i].error or facts[j].error:
            continue
        a, b, split = facts[i], facts[j], (i, j) in kept
        whole, crop = hash_distances(a, b)
        pair = Pair(i, j, float(unit[i] @ unit[j]), whole, crop)
        pair = replace(pair, kept_by_split=split)
        if rule.duplicate(pair.similarity, pair.hash_distance, pair.crop_distance):
            pairs.append(pair)
        elif rule.look_alike(pair.similarity, pair.hash_distance) or (split and rule.kept_by_split):
            pairs.append(replace(pair, look_alike=True))
    return pairs


def hash_distances(a: ImageFacts, b: ImageFacts) -> tuple[int, int]:
    """The bits between ``a`` and ``b``'s whole hashes (as they are, turned or trimmed) and
    between a crop of one and the other's whole: ``HASH_SIZE ** 2`` both where either image is
    nearly blank, its hash telling nothing (:func:`hash_tells`)."""
    if not (hash_tells(a) and hash_tells(b)):
        return HASH_SIZE * HASH_SIZE, HASH_SIZE * HASH_SIZE
    return min(hash_distance(a, b), reframed_distance(a, b)), crop_distance(a, b)


def groups_of(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected components (of size two or more) of the graph whose edges are ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not len(pairs):
        return []
    rows, cols = np.array(pairs, dtype=np.int64).T
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for index, c in enumerate(component):
        members.setdefault(int(c), []).append(index)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
