"""A helper module, not a script (hence the leading underscore): the final table of a timing
benchmark, each arm's median over repeated runs beside its ratio to a baseline arm measured in
the same run.

The machines the benchmarks run on are shared and noisy, so a speed is quoted as a median of
repeated runs, and a comparison as a ratio of arms measured side by side in one run, never across
runs or days. ``median_table`` makes that table from each arm's figures, one per round; where
every arm has a figure for every round, it also gives the median of each round's own ratio (the
arms of one round ran at nearly the same load).
"""

from __future__ import annotations

import statistics


def paired_ratio(values: list[float], base: list[float]) -> float | None:
    """The median of each round's ratio of ``values`` to ``base``, or None where the rounds do not
    pair (a different count, or a zero in the baseline)."""
    if len(values) != len(base) or 0 in base:
        return None
    return statistics.median(v / b for v, b in zip(values, base, strict=True))


def median_table(
    runs: dict[str, list[float]], unit: str, baseline: str | None = None, digits: int = 3
) -> list[str]:
    """Markdown lines: for each arm of ``runs`` (its figures in ``unit``, one per round), the
    rounds, their median and range, the ratio of its median to the ``baseline`` arm's (the first
    arm unless named) and the median of the rounds' own ratios."""
    name = baseline if baseline is not None else next(iter(runs))
    base = runs[name]
    base_median = statistics.median(base)
    lines = [
        f"| arm | rounds | median {unit} | range | / {name} (medians) | / {name} (each round's) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm, values in runs.items():
        median = statistics.median(values)
        paired = paired_ratio(values, base)
        lines.append(
            f"| {arm} | {len(values)} | {median:.{digits}f} "
            f"| {min(values):.{digits}f} to {max(values):.{digits}f} "
            f"| {median / base_median if base_median else float('nan'):.3f} "
            f"| {'-' if paired is None else f'{paired:.3f}'} |"
        )
    return lines
