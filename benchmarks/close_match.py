"""How alike a mistyped name must be to a known one for objrec to ask "is it X?"
(``words.LIKELY``, the cutoff of ``words.close_match``: difflib's ratio, case aside), one
rule for class names, options, commands and settings.

For each cutoff: of one-letter typos of real names (a letter left out, added, changed, or two
swapped; ``--typos`` a name, seeded), the share that gets the name meant, another name, or none;
and how many class names of one half of the data folder's classes get a suggestion among the other
half, where any suggestion is wrong (a stranger asked about as a misspelling).

    python benchmarks/close_match.py --data ../shared/data/caltech101
"""

from __future__ import annotations

import argparse
import difflib
import random
import string
from dataclasses import fields
from pathlib import Path

CUTOFFS = (0.6, 0.7, 0.75, 0.8, 0.85)


def match(name: str, candidates: list[str], cutoff: float) -> str | None:
    """``words.close_match`` at another cutoff."""
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[found[0]] if found else None


def typos(name: str, rng: random.Random, count: int) -> list[str]:
    """``count`` one-letter typos of ``name``, each of a random kind at a random place."""
    made = []
    for _ in range(count):
        i, kind = rng.randrange(len(name)), rng.choice("dist")
        if kind == "d" and len(name) > 2:
            typo = name[:i] + name[i + 1 :]
        elif kind == "i":
            typo = name[:i] + rng.choice(string.ascii_lowercase) + name[i:]
        elif kind == "s":
            typo = name[:i] + rng.choice(string.ascii_lowercase) + name[i + 1 :]
        else:
            i = min(i, len(name) - 2)
            typo = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        made.append(typo)
    return made


def name_sets(data: Path) -> dict[str, list[list[str]]]:
    """The names objrec asks about, each kind as lists of the names one message chooses among."""
    from objrec.cli import cli
    from objrec.config import EvaluateConfig, SplitConfig, TrainConfig

    options = [
        sorted({o for p in command.params for o in (*p.opts, *p.secondary_opts) if "--" in o})
        for command in cli.commands.values()
    ]
    settings = [[f.name for f in fields(c)] for c in (TrainConfig, SplitConfig, EvaluateConfig)]
    classes = sorted(p.name for p in data.iterdir() if p.is_dir())
    return {
        "class names": [classes],
        "options": options,
        "commands": [sorted(cli.commands)],
        "settings": settings,
    }


def shares(groups: list[list[str]], cutoff: float, count: int, seed: int) -> str:
    """The typos of ``groups``' names answered with the name meant, another, or none."""
    rng = random.Random(seed)
    right = wrong = none = 0
    for names in groups:
        known = {n.lower() for n in names}
        for name in names:
            for typo in typos(name, rng, count):
                if typo.lower() in known:  # a typo that is another name: no typo to ask about
                    continue
                found = match(typo, names, cutoff)
                right += found == name
                wrong += found is not None and found != name
                none += found is None
    n = right + wrong + none
    return f"{right / n:4.0%} right {wrong / n:3.0%} wrong ({n})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data/caltech101"), help="a class folder"
    )
    parser.add_argument("--typos", type=int, default=4, help="typos of each name (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="the typos' seed (default 0)")
    args = parser.parse_args()
    sets = name_sets(args.data)
    classes = sets["class names"][0]
    half = len(classes) // 2
    print(f"{len(classes)} class names; strangers: {len(classes) - half} against the other {half}")
    for cutoff in CUTOFFS:
        row = [
            f"{label} {shares(groups, cutoff, args.typos, args.seed)}"
            for label, groups in sets.items()
        ]
        strangers = sum(match(c, classes[:half], cutoff) is not None for c in classes[half:])
        print(f"cutoff {cutoff:.2f}: " + "; ".join(row) + f"; strangers asked about {strangers}")


if __name__ == "__main__":
    main()
