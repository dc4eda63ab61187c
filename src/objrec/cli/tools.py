"""Commands around the pipeline: ``cache`` (the feature store), ``backbones`` (the registry),
``demo`` (the whole pipeline on the built-in sample) and ``suggest`` (which images to label next).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shlex
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from objrec.backbone_facts import MEASURED_IMAGES
from objrec.cli.evaluation import serve_step, top5_text
from objrec.cli.options import (
    CACHE_DEFAULT,
    DIR,
    EXISTING,
    FOLDER,
    OUT_DIR,
    FloatRange,
    cache_dir_option,
    command_line,
    force_option,
    from_options,
    json_option,
    out_option,
    refuse_cache_inside,
)
from objrec.cli.output import (
    SAMPLE,
    RichReporter,
    console,
    logged_warnings,
    notes,
    percent,
    print_json,
    refuse_given_out,
    shown,
    with_warnings,
)
from objrec.cli.sections import Sectioned
from objrec.outputs import SUGGEST_FILES, holds_objrecs_outputs
from objrec.words import plural, some_of


@click.command(
    cls=Sectioned, short_help="Show, prune or clear the stored features and image facts."
)
@click.option(
    "--cache-dir",
    type=DIR,
    show_default=CACHE_DEFAULT,
    help="The folder where objrec keeps what it worked out. It keeps, to reuse them: what the "
    "pretrained "
    "network found in each of your images, facts about the images (for split and audit), and "
    "ready-made copies of the models; it makes the next train, audit, predict or serve "
    "quicker.",
)
@click.option(
    "--clear",
    is_flag=True,
    help="Delete all of that, to free its space. Your photos and runs are not touched, but the "
    "next commands work it all out again: the next train takes as long as a first one. Files "
    "objrec did not write there are left.",
)
@click.option(
    "--prune",
    is_flag=True,
    help="Free space and keep what you still use. Delete what no run used for --days days (30 "
    "unless given), or what belongs to no image in --keep, or both. Anything deleted that is "
    "needed again is worked out again.",
)
@click.option(
    "--days",
    type=FloatRange(min=0),
    metavar="DAYS",
    help="With --prune: delete what no run used for this many days. --prune alone uses 30, "
    "which keeps what a month's work used.",
)
@click.option(
    "--keep",
    type=FOLDER,
    help="With --prune: keep only what this folder's images need. What belongs to the images in "
    "this folder (any depth), such as the photos you still work on, is kept; what belongs to "
    "any other image is deleted.",
)
@json_option("the summary")
def cache(cache_dir: Path | None, clear: bool, prune: bool, days, keep, as_json: bool) -> None:
    """Show the feature store and the image facts store: their sizes and how many images they hold;
    prune or clear them.
    \f
    Features are stored per image content, body, data config and view, so renaming, moving or
    relabelling an image never recomputes it. --prune removes what no run used for --days days
    or what belongs to no image in --keep (features and the image facts of audit and split alike),
    then compacts the store, and removes the folders of objrec's earlier cache format; with
    --days, also the graphs exported into onnx/ that no process used, and those OpenVINO compiled
    that none read, for that many days. --clear removes only the files objrec writes there,
    leaving (and naming) any other, and follows no link (one of objrec's names is removed itself).
    Pruning or clearing waits for other objrec processes using the store, writing image facts or
    using a graph of onnx/; it is always safe: anything needed again is recomputed.
    """
    refuse_cache_options(clear, prune, days, keep)  # before the heavy import: answered at once
    from objrec.cache import FeatureCache

    store = FeatureCache(cache_dir)
    say = unsaid() if as_json else console  # --json: the JSON holds what these lines say
    if prune and days is None and keep is None:
        days = PRUNE_DAYS
        say.print(f"pruning what no run used for {days:g} days (--days N chooses how many)")
    wait = said_once(
        "waiting for other objrec processes to stop using the store, image facts or graphs"
    )

    done: dict[str, Any] = {}
    with logged_warnings() as logged:
        if clear:
            if not store.root.is_dir():
                say.print(f"nothing to clear: there is no cache folder {store.root}", markup=False)
            else:
                done.update(clear_cache(store, wait, say))
            if not as_json:
                return
        if prune:
            if not store.root.is_dir():
                say.print(f"nothing to prune: there is no cache folder {store.root}", markup=False)
            else:
                done["pruned"] = prune_store(store, days, keep, wait, say)
        summary = store.summary()
    print_cache_summary(summary, as_json, with_warnings(done, logged))


def unsaid() -> Console:
    """A console whose lines go nowhere: what a prune or clear removed, said in sentences without
    ``--json``, is in its JSON (docs/json.md: the result's sentences are not printed with it)."""
    return Console(file=io.StringIO())


def said_once(line: str) -> Callable[[], None]:
    """A ``wait`` callback that prints ``line`` (to stderr) the first time only: clearing or
    pruning waits on each folder in turn (the store, onnx/, openvino/), and said it each time."""
    said: list[str] = []

    def wait() -> None:
        if not said:
            said.append(line)
            notes.print(line)

    return wait


def clear_cache(store, wait, say: Console) -> dict:
    """``store.clear``, said in a sentence (what it removed: "other entry" named none of them;
    and the bytes it freed), and another naming what it left (what objrec did not write);
    returns the counts (for ``--json``)."""
    before = bytes_under(store.root)
    done = store.clear(wait)
    freed = max(0, before - bytes_under(store.root))
    beside = "(graphs, the image facts store, old-format entries)"
    if store.root / "store" in done.links:  # its features are where the link pointed, kept
        said = f"removed {plural(done.removed, 'entry', 'entries')} {beside}"
    else:
        entries = plural(done.removed, "entry", "entries")
        said = f"removed every stored feature and {entries} beside the store {beside}"
    say.print(f"{said} from {store.root}: {freed / 1e6:.1f} MB freed", markup=False)
    for link, target in done.links.items():
        say.print(
            f"removed the link {link} only: its target {target} is left as it was", markup=False
        )
    names = [str(p.relative_to(store.root)) for p in done.left]
    if names:
        shown = some_of(names, 5)
        say.print(
            f"left {plural(len(names), 'entry')} that objrec did not write: {shown}", markup=False
        )
    links = {str(p.relative_to(store.root)): str(t) for p, t in done.links.items()}
    cleared = {"cleared_other_entries": done.removed, "cleared_bytes": freed}
    return cleared | {"left_entries": names, "removed_links": links}


def bytes_under(folder: Path) -> int:
    """The bytes of the files under ``folder``, no link followed (a linked folder's files are
    not this folder's to free)."""
    total = 0
    for top, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(top, name)
            with contextlib.suppress(OSError):  # gone meanwhile
                total += 0 if os.path.islink(path) else os.lstat(path).st_size
    return total


PRUNE_DAYS = 30.0
"""The ``--days`` of ``cache --prune`` given neither ``--days`` nor ``--keep``: what a month's
work used is kept. A newcomer's ``objrec cache --prune`` was refused ("--prune needs --days N,
--keep FOLDER or both") where the README's table and ``--help`` ("Free space and keep what you
still use") read as if it worked alone; the library's ``FeatureCache.prune`` still takes both
as given."""


def prune_store(store, days: float | None, keep: Path | None, wait, say: Console) -> dict:
    """``store.prune``, said in two sentences; returns what it removed (for ``--json``, with
    the ``days`` it pruned by: 30 where ``--prune`` came alone)."""
    done = store.prune(days, keep, wait)
    pruned = {
        "days": days,
        "feature_rows": done.store.entries,
        "old_format_entries": done.old_entries,
        "store_bytes_freed": done.store.bytes_before - done.store.bytes_after,
        "image_fact_rows": done.facts_removed,
        "facts_bytes_freed": done.facts_before.bytes - done.facts_after.bytes,
        "openvino_graphs": done.compiled_removed,
        "graphs": done.graphs_removed,
        "temporary_files": done.leftovers_removed,
    }
    say.print(
        f"removed {plural(pruned['feature_rows'], 'feature row')} and "
        f"{plural(pruned['old_format_entries'], 'entry')} of the "
        f"old cache format; the store shrank by {pruned['store_bytes_freed'] / 1e6:.1f} MB"
    )
    say.print(
        f"removed {plural(pruned['image_fact_rows'], 'image fact row')} of the image facts store "
        f"({pruned['facts_bytes_freed'] / 1e6:.1f} MB)"
    )
    if pruned["graphs"]:
        graphs = plural(pruned["graphs"], "exported graph")
        say.print(f"removed {graphs} not used for {days:g} days")
    if pruned["openvino_graphs"]:
        say.print(f"removed {plural(pruned['openvino_graphs'], 'compiled graph')} of OpenVINO's")
    say.print(kept_line(store.summary(), keep, days), markup=False, highlight=False)
    return pruned


def kept_line(summary, keep: Path | None, days: float | None) -> str:
    """What a prune kept, and how to drop it: the features of ``keep``'s images (fine-tuning's
    float32 rows below the tuned blocks among them, said apart: they are most of it), and the
    graphs (the networks exported, their int8 copies, OpenVINO's compiled ones), which only
    ``--days`` prunes, so that a prune that freed little says where the rest is."""
    rows = sum(s.bytes for s in summary.spaces)
    tuned = sum(s.bytes for s in summary.spaces if " cut " in s.label)
    graphs = summary.onnx_bytes + summary.compiled_bytes
    whose = f"the images in {shown(keep)}" if keep is not None else "images"
    if days is not None:
        whose += f" used within {days:g} days"
    below = f", {mb(tuned)} of them fine-tuning's rows below its tuned blocks" if tuned else ""
    drop = (
        "--clear removes everything"
        if days is not None
        else "--days N also removes the graphs no process used for N days, --clear everything"
    )
    return (
        f"kept {mb(rows + graphs)}: {mb(rows)} of features of {whose}{below}, and {mb(graphs)} "
        f"of graphs (the networks exported, their int8 copies, OpenVINO's compiled ones); {drop}"
    )


def mb(n_bytes: int) -> str:
    """Bytes in MB, as ``objrec cache`` says them: ``6.4 MB``."""
    return f"{n_bytes / 1e6:.1f} MB"


def refuse_cache_options(clear: bool, prune: bool, days: float | None, keep: Path | None) -> None:
    """Options of ``cache`` that mean something only with another are refused without it; a
    ``--days`` of nan, which click's range lets through and which pruned nothing, is refused
    (``inf`` prunes nothing, as asked)."""
    if days is not None and math.isnan(days):
        raise click.BadParameter("nan is not a number of days", param_hint="'--days'")
    for flag, value in (("--days", days), ("--keep", keep)):
        if value is not None and not prune:
            raise click.UsageError(f"{flag} needs --prune (it says what --prune removes)")
    if clear and prune:
        raise click.UsageError("--clear and --prune do not go together: --clear removes everything")


GRAPH_WORDS = {"body": "body graph", "int8_body": "int8 body", "model": "whole model"}
"""How ``objrec cache`` names each kind of graph of ``onnx/`` (``cache.GRAPH_KINDS``)."""


def graph_line(summary) -> str:
    """The graphs of the cache folder per kind, with their sizes: ``2 body graphs (9.1 MB), ...``,
    OpenVINO's compiled ones last; a kind it holds none of is left out (``0 whole models (0.0
    MB)`` said nothing), and ``none`` when it holds no graph."""
    counts = [(GRAPH_WORDS[kind], n.graphs, n.bytes) for kind, n in summary.graphs.items()]
    counts.append(("OpenVINO compiled graph", summary.compiled_graphs, summary.compiled_bytes))
    held = [f"{plural(n, word)} ({size / 1e6:.1f} MB)" for word, n, size in counts if n]
    return ", ".join(held) or "none"


def print_cache_summary(summary, as_json: bool, done: dict | None = None) -> None:
    """The store's table, or with ``as_json`` its summary and ``done`` (what was removed, and
    the warnings logged)."""
    if as_json:
        print_json(summary.to_json() | (done or {}))
        return
    if not summary.exists:
        console.print(
            f"there is no cache folder {summary.root}: nothing is stored yet", markup=False
        )
        return
    table = Table("body", "features", "dtype", "images", "rows", "size", "last used")
    same = Counter((s.label, s.dtype) for s in summary.spaces)  # e.g. int8 bodies calibrated apart
    for s in summary.spaces:
        used = time_ago(s.last_used)
        table.add_row(
            Text(s.label if same[s.label, s.dtype] == 1 else f"{s.label} (id {s.id[:8]})"),
            str(s.dim),
            s.dtype,
            f"{s.images:,}",
            f"{s.entries:,}",
            f"{s.bytes / 1e6:.1f} MB",
            used,
        )
    where = f"feature store in {summary.root / 'store'}"
    if summary.spaces:
        console.print(where, markup=False)
        console.print(table)
    else:  # a header row over nothing read as a table that failed to fill
        console.print(f"{where}: no features stored", markup=False)
    console.print(
        f"file index: {plural(summary.files, 'file')} ({summary.index_bytes / 1e6:.1f} MB)"
    )
    console.print(f"graphs: {graph_line(summary)}", markup=False)
    console.print(
        f"image facts (perceptual hashes of audit and split): "
        f"{plural(summary.facts.rows, 'image')} ({summary.facts.bytes / 1e6:.1f} MB)"
    )
    if summary.old_entries:
        console.print(
            f"{plural(summary.old_entries, 'entry')} of the old cache format "
            f"({summary.old_bytes / 1e6:.1f} MB) {'is' if summary.old_entries == 1 else 'are'} "
            "no longer read: `objrec cache --prune --days 30` removes them"
        )


def time_ago(timestamp: float | None) -> str:
    """When a store's rows were last used, in the unit that reads at a glance: ``just now``,
    ``12 min ago``, ``5 h ago``, ``3 days ago`` (a store just filled said "0.0 h ago")."""
    if timestamp is None:
        return "never"
    import time

    minutes = (time.time() - timestamp) / 60
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes:.0f} min ago"
    hours = minutes / 60
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def known_backbones(ctx: click.Context, param: click.Parameter, names: tuple[str, ...]):
    """``backbones``' NAMEs, each one refused as --backbone refuses it (a usage error, exit
    status 2) where it names no network objrec can build."""
    from objrec.backbones import BadBackbone, require_known_backbone

    for name in names:
        try:
            require_known_backbone(name)
        except BadBackbone as exc:
            raise click.BadParameter(str(exc), ctx, param, param_hint="'NAME'") from exc
    return names


@click.command(cls=Sectioned, short_help="List the pretrained networks objrec can use.")
@click.argument("names", nargs=-1, metavar="[NAME]...", callback=known_backbones)
@click.option(
    "--torchvision",
    is_flag=True,
    help="List torchvision's classification models too. Any of them works with --backbone; the "
    "list gives their input size and whether their weights are in the torch hub cache. "
    "Slower: it imports torchvision's models.",
)
@click.option(
    "--measure",
    is_flag=True,
    help="Time each network's frozen pass on this machine, in ms per image. In fp32, and in "
    "int8 where --precision auto picks it here, as train runs it. A few seconds a network; "
    "a network's int8 copy, made once per network and cache folder, is made first where "
    "missing (seconds to a minute), and kept for train.",
)
@click.option(
    "--images",
    type=click.IntRange(min=1),
    default=MEASURED_IMAGES,
    show_default=True,
    metavar="N",
    help="Random images each --measure pass is timed on. Rounded up to a multiple of 32; the "
    "time said is the median of its batches' (those the body runs at once timed together).",
)
@cache_dir_option("--measure keeps each network's graphs there, which train then reuses.")
@json_option("the list")
def backbones(
    names: tuple[str, ...],
    torchvision: bool,
    measure: bool,
    images: int,
    cache_dir: Path | None,
    as_json: bool,
) -> None:
    """List the pretrained networks (backbones) objrec knows, and what each weighs: the features
    it gives the head, its parameters, its weights on disk, its test top-1 where the repo
    measured it, and with --measure its frozen pass's speed here. NAME: only these (any name
    --backbone takes).
    \f
    Any torchvision classification model name also works with --backbone (weights from --weights,
    the torch hub cache or the network; --torchvision lists them), timm:NAME when timm is
    installed, and names joined by '+' (a feature ensemble: each body sees the same image, their
    features are concatenated). docs/backbones.md says how to choose.
    """
    from objrec.backbone_facts import describe_backbones, refuse_measuring

    from_options(refuse_measuring, names, torchvision, measure, images)
    given = click.get_current_context().get_parameter_source
    for flag in ("images", "cache_dir"):
        if not measure and given(flag) == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(f"--{flag.replace('_', '-')} needs --measure: it alone uses it")
    if measure:
        reporter = RichReporter()
        with reporter.loading():  # seconds (torch): not in silence
            import objrec.frozen  # noqa: F401
        facts = describe_backbones(
            names,
            torchvision=torchvision,
            measure=True,
            images=images,
            cache_dir=cache_dir,
            reporter=reporter,
        )
    else:
        facts = describe_backbones(names, torchvision=torchvision)
    if as_json:
        print_json([f.to_json() for f in facts])
        return
    console.print(backbones_table(facts, measure))
    for line in backbones_notes(facts, torchvision or bool(names)):
        console.print(line, markup=False, highlight=False)


def backbones_table(facts, measure: bool) -> Table:
    """The table ``objrec backbones`` prints: a row a network, its speeds with ``measure``."""
    table = Table()
    table.add_column("name", overflow="fold")  # folded, never cut: a name must stay whole to copy
    for header in ("input", "features", "params", "weights", "offline now", "test top-1"):
        table.add_column(header, justify="right" if header != "offline now" else "left")
    if measure:
        table.add_column("fp32 ms/image", justify="right")
        table.add_column("int8 ms/image", justify="right")
    table.add_column("description")
    for f in facts:
        cells = [
            f.name,
            f"{f.input_size} px",
            "" if f.features is None else str(f.features),
            "" if f.parameters is None else millions(f.parameters),
            "" if f.weights_bytes is None else mb(f.weights_bytes),
            "yes" if f.offline else "no",
            "" if f.reference is None else percent(f.reference.top1),
        ]
        if measure:
            cells += [speed_cell(f, "fp32"), speed_cell(f, "int8")]
        table.add_row(*cells, f.description + ("; objrec's default" if f.default else ""))
    return table


def millions(n: int) -> str:
    """A count as ``backbones`` shows it: ``3.4 M``, whole under a million (``1,440``)."""
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n:,}"


def speed_cell(facts, precision: str) -> str:
    """A measured speed, ``(auto)`` after the one ``--precision auto`` runs here; "" where none."""
    speed = next((s for s in facts.speeds or () if s.precision == precision), None)
    if speed is None:
        return ""
    return f"{speed.ms_per_image:.1f}" + (" (auto)" if speed.auto else "")


def backbones_notes(facts, listed_all: bool) -> list[str]:
    """What ``objrec backbones`` says under its table: where its figures come from, how the
    speeds were measured, why a network has no int8 speed, and the networks it does not list
    unasked."""
    lines = []
    if any(f.reference for f in facts):
        lines.append(REFERENCE_NOTE)
    speeds = [s for f in facts for s in f.speeds or ()]
    if speeds:
        threads = plural(speeds[0].threads, "thread")
        lines.append(
            f"ms/image: the frozen pass alone on the CPU, on random images, batch "
            f"{speeds[0].batch_size}, "
            f"{threads}, measured now (fp32 on {speeds[0].engine}{engines_said(speeds)}); "
            "train adds decoding the photos"
        )
    lines += fidelity_notes(facts)
    lines += sorted({f.no_int8 for f in facts if f.no_int8})
    return lines if listed_all else [*lines, MORE_BACKBONES]


def fidelity_notes(facts) -> list[str]:
    """One line of how closely each measured int8 copy follows its fp32 features, where known
    (``backbone_facts.PassSpeed.fidelity``): a copy that strays answers otherwise than its speed
    suggests, and the figure was said once, at ``-v``, where the copy was made."""
    known = [
        f"{f.name} {s.fidelity.mean:.4f} on average, {s.fidelity.lowest:.4f} at the lowest "
        f"({s.fidelity.engine})"
        for f in facts
        for s in f.speeds or ()
        if s.fidelity is not None
    ]
    if not known:
        return []
    return [
        "int8 features against fp32's, cosine similarity on objrec's calibration images as the "
        f"int8 engine runs them: {'; '.join(known)}"
    ]


def engines_said(speeds) -> str:
    """``, int8 on openvino`` for the engines the int8 speeds were measured on."""
    engines = sorted({s.engine for s in speeds if s.precision == "int8"})
    return "".join(f", int8 on {e}" for e in engines)


REFERENCE_NOTE = (
    "test top-1: Caltech-101's 100-class protocol, split seed 0, one run, the bodies in fp32 "
    "(benchmarks/README.md, accuracy.py); empty where the repo has no figure"
)
"""Where the reference figures of ``objrec backbones`` come from (``backbone_facts.REFERENCES``)."""

MORE_BACKBONES = (
    "--backbone also takes any torchvision classification model (resnet50, mobilenet_v2, ...: "
    "`objrec backbones --torchvision` lists them) and timm:NAME with timm installed "
    "(docs/backbones.md)"
)
"""What ``objrec backbones`` says under its table: the networks it does not list unasked
(listing torchvision's imports its models: 2.5 s more)."""


@click.command(
    cls=Sectioned,
    short_help="Run every step on the built-in sample, into objrec-demo/.",
    help="Run the whole pipeline on the built-in sample (five Caltech-101 classes, 24 images "
    "each), offline.\n\nIt writes into objrec-demo in the current folder (--out for another): "
    "data/ (the split), explore/, run/ (the model) and predictions.png. A folder that is not "
    "empty is refused unless --force is given, so nothing of yours is written over unasked."
    "\n\nThe sample is a class folder inside objrec's package; any command that "
    "reads one takes it, e.g. `objrec audit` or `objrec explore` (their output then goes to the "
    f"current folder). It is here:\n\n\b\n{SAMPLE}",
)
@click.option(
    "--out",
    type=OUT_DIR,
    default=Path("objrec-demo"),
    show_default=True,
    help="Folder for the demo's split, run and outputs. New or empty, unless --force.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into --out when it is not empty. An earlier demo's data/, explore/, run/ and "
    "predictions.png are replaced (a data/, explore/, run/ or predictions.png the demo did not "
    "make is refused); files of other names are left as they are.",
)
@json_option("the paths and scores")
def demo(out: Path, force: bool, as_json: bool) -> None:
    from objrec.outputs import output_path, refuse_overwrite

    notes.print(
        f"the demo writes into {out.absolute()} (--out FOLDER for another)",
        markup=False,
        highlight=False,
    )
    refuse_overwrite(output_path(out), force)  # not empty: said before the libraries load
    from objrec.demo import run_demo

    reporter = RichReporter()
    with logged_warnings() as logged:
        summary = run_demo(out, reporter, force=force, command=command_line())
    if as_json:
        print_json(with_warnings(demo_json(out, summary), logged))
        return
    console.print(
        f"[green]demo finished[/] in {summary['seconds']:.0f}s: test top-1 "
        f"{percent(summary['top1'])}{top5_text(summary['top5'], summary['n_classes'])}; "
        f"everything is in {escape(shown(out))}"
    )
    console.print("next, try:", highlight=False)
    for command, what in demo_next_steps(summary):
        console.print(f"  {escape(command)}  [dim]# {escape(what)}[/]", highlight=False)


def demo_json(out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """``demo --json``'s answer: where each of its outputs is, then its test scores and time
    (docs/json.md): the demo's ``summary`` with its folder and explore's."""
    paths = {"data": summary["data"], "explore": out / "explore", "run": summary["run"]}
    paths |= {key: summary.get(key) for key in ("evaluation", "predictions", "image")}
    written = {key: None if path is None else str(path) for key, path in paths.items()}
    scores = {key: summary.get(key) for key in ("top1", "top5", "n_classes", "seconds")}
    return {"out": str(out), **written, **scores}


def demo_next_steps(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Commands to try on what the demo made, each with what it shows."""
    run, data = shlex.quote(shown(summary["run"])), shlex.quote(shown(summary["data"]))
    steps = [(f"objrec report {run}", f"{shown(summary['run'])}/report.html: one page about it")]
    if summary.get("image"):
        image = shlex.quote(shown(summary["image"]))
        steps.append((f"objrec predict {run} {image}", "the top classes of one image"))
    audit = f"objrec audit {data} --run {run}"  # its features, its body: nothing to compute
    steps.append((audit, "likely wrong labels, near-duplicates, outliers"))
    return [*steps, serve_step(run)]


@click.command(cls=Sectioned, short_help="Rank unlabelled photos by how much labelling them helps.")
@click.argument("run", type=EXISTING)
@click.argument("unlabelled", type=FOLDER)
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1),
    metavar="N",
    default=50,
    show_default=True,
    help="How many images to list.",
)
@click.option(
    "--diversity",
    type=FloatRange(0, 1),
    metavar="SHARE",
    default=0.5,
    show_default=True,
    help="How much a look-alike of a listed image counts less. The share of an image's "
    "informativeness lost by resembling an image already listed (0: informativeness alone; 1: a "
    "copy of one counts for nothing).",
)
@out_option(
    "the list",
    "RUN/suggest",
    "RUN/suggest, or NAME-suggest beside a checkpoint file NAME.safetensors other than a run's "
    "model.safetensors",
)
@force_option()
@json_option("the ranked list")
def suggest(run: Path, unlabelled: Path, n, diversity, out, force, as_json) -> None:
    """Which images in UNLABELLED to label next to improve the model in RUN the most.
    \f
    Each image is ranked by its informativeness, the larger of two reasons to label it, each 0
    to 1: its uncertainty (one minus the margin between its two best classes) and its
    unfamiliarity (1 for an image the run answers unknown: a class it lacks, or a view it has not
    seen; else one minus its familiarity, 0 for an image as familiar as a typical one). So an
    unknown image comes before every image the run is sure of and finds familiar, however clear
    its top class. Picked so that no two are near-copies of one hard case. Writes suggestions.csv
    (ranked) and suggestions.html (thumbnails), each image with its reason. UNLABELLED is only
    read; its sub-folders are searched too. A folder of only unknown images is said so.
    """
    from objrec.run_files import require_checkpoint_file

    require_checkpoint_file(run)  # a folder that is no run said at once, not after the import
    refuse_given_out(out, force, SUGGEST_FILES, unlabelled, "image folder")
    refuse_cache_inside(None, unlabelled, what="image folder", run=run)
    reporter = RichReporter()
    with reporter.loading():  # seconds (torch): not in silence
        from objrec.suggest import default_suggest_dir
        from objrec.suggest import suggest as run_suggest
    default = default_suggest_dir(run)
    again = not force and out is None and holds_objrecs_outputs(default)
    result = run_suggest(run, unlabelled, n, out, diversity, reporter=reporter, force=force)
    if again:  # said once written: before, it preceded the refusal of an empty UNLABELLED
        notes.print(f"wrote again into {shown(default)} (objrec's earlier outputs)", markup=False)
    if as_json:
        print_json(result.table.to_dict(orient="records"))
        return
    for line in left_out_lines(result, run):
        console.print(line, markup=False, highlight=False)
    if result.all_unknown:
        from objrec.suggest import all_unknown_line

        every, rest = all_unknown_line(result.readable).split(": ", 1)
        console.print(f"[yellow]{escape(every)}[/]: {escape(rest)}")
    print_ranked(result)


def left_out_lines(result, run: Path) -> list[str]:
    """What ``suggest`` left out as labelled already: the run's own training or validation images
    (by content), and re-saved, resized or cropped copies of them (by their perceptual hashes)."""
    lines = []
    if result.labelled:
        one = len(result.labelled) == 1
        lines.append(
            f"{plural(len(result.labelled), 'image')} left out: {run} trained or validated on "
            f"{'it' if one else 'them'} (by content), so {'it is' if one else 'they are'} "
            "labelled already"
        )
    if result.near_copies:
        one = len(result.near_copies) == 1
        copies = (
            "a re-saved, resized or cropped copy of an image"
            if one
            else "re-saved, resized or cropped copies of images"
        )
        lines.append(
            f"{plural(len(result.near_copies), 'image')} left out: {copies} {run} trained or "
            f"validated on (by their perceptual hashes), so {'it is' if one else 'they are'} "
            "labelled already"
        )
    return lines


SUGGEST_SHOWN = 10
"""The ranked images ``suggest`` prints; suggestions.csv holds them all."""


def print_ranked(result) -> None:
    """The first :data:`SUGGEST_SHOWN` images ranked, each with its informativeness and reason,
    which of them tie, and where the whole list is."""
    from objrec.suggest import tie_lines, worth_words

    rows = result.table.head(SUGGEST_SHOWN)
    worth = worth_words(list(rows["informativeness"]), list(rows["tied"]))
    for r, said in zip(rows.itertuples(), worth, strict=True):
        console.print(
            f"{r.rank:3d}. {r.path}: {r.predicted} {r.prob:.0%} or {r.second} {r.prob_second:.0%}"
            f"; informativeness {said}: {r.reason}",
            markup=False,
        )
    if not result.all_unknown:  # whose line says so of them all
        for line in tie_lines(rows):
            console.print(line, markup=False, highlight=False)
    ranked = shown(f"{result.out}/suggestions.csv")
    console.print(
        f"{plural(len(result.table), 'image')} ranked in {ranked}", markup=False, highlight=False
    )
