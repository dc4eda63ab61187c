"""Split's near-duplicate pairs, kept: a second split of a folder compares only its new images.

``dedup.split_pairs`` compares every image with every other, quadratic in their number: 60,000
images took 6 to 12 minutes of CPU, on every split of the folder (``benchmarks/README.md``).
Whether two images pair depends on their image facts alone, kept by content digest, whichever
comes first (``dedup.split_paired``; before ``PAIRS_KEY``'s v3, a mirrored copy's on the order
too). So the image facts store (``facts.sqlite`` in the cache folder) also keeps each set of
images compared with each other (``pair_sets``; their digests in ``pair_members``) and every
pair either order of its two images could pair (``pair_found``: ``dedup.candidate_pairs``). A
split takes the kept set that holds the most of its images, compares only its other images with
all of them, decides each pair, and keeps its images as a set in turn. The pairs, and so the
groups, are those comparing every pair gives. A changed file is a new digest, compared anew;
``objrec cache --clear`` and ``--prune`` forget the sets with the facts, and a forgotten set is
only measured again.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from objrec import dedup, facts_store, image_facts

PAIRS_KEY = f"split{dedup.HASH_SPLIT} crop{dedup.CROP_SPLIT} turned trimmed v3 blank masked"
"""What a kept set's pairs were decided by, beside the facts' own key (:func:`pairs_key`)."""
MAX_SETS = 8
"""Sets kept, the most recently used: each is a folder's images (a split of each of 8 folders,
or of one folder as it changed), 50 to 100 bytes an image."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS pair_sets(
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, images INTEGER NOT NULL, used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pair_members(
    pair_set INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY(pair_set, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pair_found(pair_set INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pair_found_set ON pair_found(pair_set);
"""
TABLES = (("pair_sets", "id"), ("pair_members", "pair_set"), ("pair_found", "pair_set"))
"""Each table of the kept sets, and its column naming the set."""


def pairs_key() -> str:
    """:data:`PAIRS_KEY` and the facts' key (``image_facts.facts_key``): pairs of facts measured
    otherwise are never read."""
    return f"{PAIRS_KEY} {image_facts.facts_key()}"


PAIR_SETS = facts_store.KeptTable(
    "pair_sets",
    SCHEMA,
    pairs_key,
    used="used",
    kept="id NOT IN (SELECT pair_set FROM pair_members WHERE digest NOT IN temp.keep)",
    then=tuple(
        f"DELETE FROM {t} WHERE {c} NOT IN (SELECT id FROM pair_sets)" for t, c in TABLES[1:]
    ),
)
"""The kept sets, as ``objrec cache --prune`` forgets them (``facts_store.prune_kept``): a set
holding an image of no digest kept goes whole, its images and pairs with it, and a forgotten
set's images are compared again."""


def kept_split_pairs(
    facts: Sequence[image_facts.ImageFacts],
    digests: Sequence[str],
    db_file: Path,
    on_row: Callable[[int, int], None] | None = None,
) -> list[tuple[int, int]]:
    """Pairs of ``facts``' indices that link the images as ``dedup.split_pairs(facts)`` does (the
    same groups: ``dedup.groups_of``), from the pairs kept in ``db_file`` for their ``digests``
    (content digests, one an image: byte-identical files share one and are linked), the images
    no kept set holds compared with all. ``on_row(done, total)``: ``split_pairs``' progress,
    counting images, those already compared done at once."""
    at: dict[str, list[int]] = {}
    for i, digest in enumerate(digests):
        at.setdefault(digest, []).append(i)
    names = list(at)
    unique = [facts[at[d][0]] for d in names]
    copies = np.array([len(at[d]) for d in names])
    pairs = []
    step = functools.partial(_in_images, copies, on_row=on_row)
    for a, b in _candidates(unique, names, db_file, step):
        first, second = at[names[a]], at[names[b]]
        if (first[0] < second[-1] and dedup.split_paired(unique[a], unique[b])) or (
            second[0] < first[-1] and dedup.split_paired(unique[b], unique[a])
        ):
            pairs.append((first[0], second[0]))
    for same in at.values():  # identical files: 0 bits apart
        if not facts[same[0]].error:
            pairs += itertools.pairwise(same)
    return sorted((min(i, j), max(i, j)) for i, j in pairs)


def _in_images(
    copies: np.ndarray, mine: np.ndarray, on_row: Callable[[int, int], None] | None
) -> Callable[[int, int], None]:
    """``candidate_pairs``' ``on_row(done, total)``, measuring the rows ``mine`` (sorted), told
    to ``on_row`` in images, as ``split_pairs`` counts them: each row is the files holding its
    digest (``copies``), and the others, compared before, are done at the start of each of the
    ``dedup.PAIR_PASSES`` passes."""
    total = int(copies.sum())
    before = np.concatenate([[0], np.cumsum(copies[mine])])  # the images of the first k rows
    known = total - int(before[-1])

    def step(done: int, _: int) -> None:
        passes, rows = divmod(done, max(len(mine), 1))
        if rows == 0 and passes:  # a pass's end
            passes, rows = passes - 1, len(mine)
        if on_row and total:
            on_row(passes * total + known + int(before[rows]), dedup.PAIR_PASSES * total)

    return step


def _candidates(
    facts: list[image_facts.ImageFacts],
    digests: list[str],
    db_file: Path,
    step: Callable[[np.ndarray], Callable[[int, int], None]],
) -> list[tuple[int, int]]:
    """``dedup.candidate_pairs`` of ``facts`` (one an image, by digest), those of a kept set taken
    from ``db_file``, the others measured and the whole kept as a set. ``step(rows)``: the
    progress of measuring ``rows``."""
    readable = [d for d, f in zip(digests, facts, strict=True) if not f.error]
    key = pairs_key()
    with facts_store.open_facts(db_file) as db:
        db.executescript(SCHEMA)
        db.execute("BEGIN")  # one snapshot: a set another split forgets is read whole or not
        base, known, found = _best_set(db, key, readable)
        db.execute("COMMIT")
    position = {d: i for i, d in enumerate(digests)}
    rows = np.array([position[d] for d in readable if d not in known], dtype=np.int64)
    if base is None:
        rows = np.arange(len(facts))
    told = step(rows)
    told(0, 0)
    if len(rows):
        measured = dedup.candidate_pairs(facts, None if base is None else rows, told)
        found |= {(digests[i], digests[j]) for i, j in measured}
    else:  # no row: every image compared before, each pass's end told (a bar each)
        for passes in range(1, dedup.PAIR_PASSES + 1):
            told(passes, 0)
    with facts_store.open_facts(db_file) as db:
        db.executescript(SCHEMA)
        _keep_set(db, key, (base, len(known)), readable if len(rows) else [], found)
    return [(position[a], position[b]) for a, b in found]


def _best_set(
    db, key: str, digests: list[str]
) -> tuple[int | None, set[str], set[tuple[str, str]]]:
    """The kept set holding the most of ``digests`` (None, when none holds any), which of them it
    holds, and its pairs among those."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_pairs(digest TEXT PRIMARY KEY)")
    db.execute("DELETE FROM temp.wanted_pairs")
    db.executemany("INSERT OR IGNORE INTO temp.wanted_pairs VALUES (?)", ((d,) for d in digests))
    best = db.execute(
        "SELECT m.pair_set, COUNT(*) AS n FROM pair_members m JOIN pair_sets s ON s.id=m.pair_set "
        "JOIN temp.wanted_pairs w ON w.digest=m.digest WHERE s.key=? "
        "GROUP BY m.pair_set ORDER BY n DESC, s.used DESC LIMIT 1",
        (key,),
    ).fetchone()
    if best is None:
        return None, set(), set()
    known = {
        d
        for (d,) in db.execute(
            "SELECT m.digest FROM pair_members m JOIN temp.wanted_pairs w ON w.digest=m.digest "
            "WHERE m.pair_set=?",
            (best[0],),
        )
    }
    cursor = db.execute("SELECT a, b FROM pair_found WHERE pair_set=?", (best[0],))
    return best[0], known, {(a, b) for a, b in cursor if a in known and b in known}


def _keep_set(
    db, key: str, base: tuple[int | None, int], digests: list[str], pairs: set[tuple[str, str]]
) -> None:
    """Keep ``digests`` as a set compared with each other, with their ``pairs``: ``base`` (the set
    used, and how many of its images are among them) is only marked used when none are new
    (``digests`` empty), and goes when the new set holds all its images. The sets beyond
    :data:`MAX_SETS`, the least recently used, go too."""
    (used, held), now = base, time.time()
    db.execute("BEGIN IMMEDIATE")
    if used is not None:
        db.execute("UPDATE pair_sets SET used=? WHERE id=?", (now, used))
    if digests:
        cursor = db.execute(
            "INSERT INTO pair_sets(key, images, used) VALUES (?,?,?)", (key, len(digests), now)
        )
        made = cursor.lastrowid
        db.executemany("INSERT INTO pair_members VALUES (?,?)", ((made, d) for d in digests))
        db.executemany("INSERT INTO pair_found VALUES (?,?,?)", ((made, *p) for p in pairs))
        whole = db.execute("SELECT images FROM pair_sets WHERE id=?", (used,)).fetchone()
        if used is not None and whole is not None and whole[0] == held:  # all in this one
            _forget_sets(db, [used])
    old = db.execute("SELECT id FROM pair_sets ORDER BY used DESC LIMIT -1 OFFSET ?", (MAX_SETS,))
    _forget_sets(db, [s for (s,) in old.fetchall()])
    db.execute("COMMIT")


def _forget_sets(db, sets: Sequence[int]) -> None:
    """Remove the kept ``sets``, their images and pairs."""
    for table, column in TABLES:
        db.executemany(f"DELETE FROM {table} WHERE {column}=?", ((s,) for s in sets))
