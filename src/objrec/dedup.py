"""Near-duplicate images: perceptual hashes, feature neighbours, and the groups they form.

Two signals, each catching what the other misses:

* a perceptual hash (``imagehash.phash``, 64 bits, of the image and of its mirror), which needs no
  model and survives resizing, re-encoding and colour changes; ``split`` uses it alone, so a
  re-saved or mirrored copy never lands on the other side of a split;
* cosine similarity of frozen-backbone features (a scikit-learn ``NearestNeighbors`` index), which
  also survives crops; ``audit`` combines both.

The thresholds are chosen on data (``benchmarks/audit.py``, ``benchmarks/README.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps

from objrec.images import UnreadableImageError, open_image

log = logging.getLogger(__name__)

HASH_SIZE = 16
"""pHash side: 16 x 16 = 256 bits. The common 8 x 8 (64 bits) puts different photos of one kind on a
plain background (Caltech-101's side-view motorbikes) within 2-6 bits of each other, as close as
re-saved copies; at 256 bits they stay 34 bits or more apart (``benchmarks/README.md``)."""
HASH_SPLIT = 24
"""Hash distance (bits of 256) at or below which ``split`` keeps two images together."""
NEIGHBOURS = 10
"""Feature neighbours examined per image."""


@dataclass(frozen=True)
class DuplicateRule:
    """When two images are near-duplicates: either signal strongly, or both moderately."""

    sim_strict: float = 0.93
    """Cosine similarity of features at or above which two images are near-duplicates. Chosen on
    ``benchmarks/audit.py --seed 1 --signals`` (Lite0 features): 10%-crops, which the hash misses,
    mostly score 0.90-0.97; 0.97 found 87 of 100 injected pairs, 0.93 finds 96 at the cost of 56
    more flagged pairs to look at."""
    sim_loose: float = 0.90
    hash_strict: int = 24
    """Perceptual-hash distance (bits of 256) at or below which they are, whatever the features."""
    hash_loose: int = 64
    """At or below this distance, a similarity of ``sim_loose`` is enough."""

    def __call__(self, similarity: float, distance: int) -> bool:
        return (
            similarity >= self.sim_strict
            or distance <= self.hash_strict
            or (similarity >= self.sim_loose and distance <= self.hash_loose)
        )


DRAFT = 64


@dataclass(frozen=True)
class ImageFacts:
    """What one cheap decode tells: size, perceptual hashes, contrast; ``error`` if unreadable."""

    width: int = 0
    height: int = 0
    phash: int = 0
    phash_mirror: int = 0
    contrast: float = 0.0
    """Standard deviation of the grey levels (0-255) of a small copy: near 0 for a blank image."""
    error: str = ""


def hash_bits(image: Image.Image) -> int:
    return int(str(imagehash.phash(image, hash_size=HASH_SIZE)), 16)


def image_facts(path: Path) -> ImageFacts:
    """Decode ``path`` at a reduced size (JPEG draft mode) and measure it; never raises."""
    try:
        with Image.open(path) as raw:
            width, height = raw.size
        image = open_image(path, draft_size=DRAFT)
    except (UnreadableImageError, OSError, Image.DecompressionBombError) as exc:
        return ImageFacts(error=str(exc))
    if image.size[0] != width and image.size[0] == height:  # EXIF rotation
        width, height = height, width
    grey = image.convert("L")
    return ImageFacts(
        width=width,
        height=height,
        phash=hash_bits(grey),
        phash_mirror=hash_bits(ImageOps.mirror(grey)),
        contrast=float(np.asarray(grey.resize((32, 32)), dtype=np.float32).std()),
    )


def all_facts(
    paths: Sequence[Path], on_file: Callable[[], None] | None = None, threads: int = 4
) -> list[ImageFacts]:
    """``image_facts`` of every path, in order, decoded on a few threads (PIL releases the GIL)."""
    with ThreadPoolExecutor(threads) as pool:
        results = []
        for facts in pool.map(image_facts, paths):
            results.append(facts)
            if on_file:
                on_file()
    return results


WORDS = HASH_SIZE * HASH_SIZE // 64


def _words(values: Sequence[int]) -> np.ndarray:
    """(N, WORDS) uint64: each hash cut into 64-bit words, for vectorised popcounts."""
    mask = (1 << 64) - 1
    return np.array([[(v >> (64 * k)) & mask for k in range(WORDS)] for v in values], np.uint64)


def _distance(block: np.ndarray, other: np.ndarray) -> np.ndarray:
    return np.bitwise_count(block[:, None, :] ^ other[None, :, :]).sum(-1, dtype=np.int16)


def hash_pairs(facts: Sequence[ImageFacts], max_distance: int, chunk: int = 256) -> np.ndarray:
    """(P, 3) rows ``i, j, distance`` with i < j for every pair within ``max_distance`` bits.

    The distance is the smaller of hash-to-hash and hash-to-mirrored-hash, so a mirrored copy is
    as close as a resized one. Brute force in chunks: 6,000 images take a few seconds.
    """
    readable = np.array([not f.error for f in facts])
    h = _words([f.phash for f in facts])
    m = _words([f.phash_mirror for f in facts])
    found = [np.zeros((0, 3), dtype=np.int64)]
    for start in range(0, len(h), chunk):
        block = h[start : start + chunk]
        dist = np.minimum(_distance(block, h), _distance(block, m))
        rows, cols = np.nonzero(dist <= max_distance)
        keep = (rows + start < cols) & readable[rows + start] & readable[cols]
        rows, cols = rows[keep], cols[keep]
        found.append(np.stack([rows + start, cols, dist[rows, cols]], 1).astype(np.int64))
    return np.concatenate(found)


def normalise(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


def feature_neighbours(unit: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities and indices of each row's ``k`` nearest other rows (scikit-learn)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(unit) - 1)
    if k < 1:
        return np.zeros((len(unit), 0), np.float32), np.zeros((len(unit), 0), np.int64)
    index = NearestNeighbors(n_neighbors=k + 1, metric="euclidean").fit(unit)
    dist, idx = index.kneighbors(unit)
    return 1 - dist[:, 1:] ** 2 / 2, idx[:, 1:]


@dataclass(frozen=True)
class Pair:
    i: int
    j: int
    similarity: float
    hash_distance: int


def hash_distance(a: ImageFacts, b: ImageFacts) -> int:
    return min(int(a.phash ^ b.phash).bit_count(), int(a.phash ^ b.phash_mirror).bit_count())


def duplicate_pairs(
    unit: np.ndarray, facts: Sequence[ImageFacts], rule: DuplicateRule = DuplicateRule()
) -> list[Pair]:
    """Every pair that ``rule`` calls near-duplicates, from feature and from hash neighbours."""
    sims, idx = feature_neighbours(unit)
    candidates = {
        (min(i, int(j)), max(i, int(j)))
        for i in range(len(unit))
        for j, s in zip(idx[i], sims[i], strict=True)
        if s >= rule.sim_loose
    }
    candidates |= {(int(i), int(j)) for i, j, _ in hash_pairs(facts, rule.hash_strict)}
    pairs = []
    for i, j in sorted(candidates):
        if facts[i].error or facts[j].error:
            continue
        pair = Pair(i, j, float(unit[i] @ unit[j]), hash_distance(facts[i], facts[j]))
        if rule(pair.similarity, pair.hash_distance):
            pairs.append(pair)
    return pairs


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
