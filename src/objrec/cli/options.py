"""Options and arguments several commands share: paths, ``--device``, the ``train`` options
taken from TrainConfig, ``--threshold``/``--no-unknown``, ``--exclude A B``, ``--json``, the
``--out`` and ``--force`` of a command writing beside what it reads, ``--copy/--link``,
``--new-class``, and the check that RUN comes before DATA.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from objrec.cache_folder import DEFAULT_WORDS
from objrec.cli.sections import first_sentences
from objrec.config import SplitConfig, TrainConfig, field_docs, require_device
from objrec.errors import ObjrecError, UsageRefused
from objrec.outputs import refuse_unwritable, resolved
from objrec.paths import PathGiven

T = TypeVar("T")


def from_options(make: Callable[..., T], *args, **values) -> T:
    """``make(*args, **values)`` (a settings dataclass, or a library check of a value) from the
    running command's option values: a value it refuses (``--epochs -1``, ``--ratios 0.5 0.5
    0.5``, ``serve --max-pixels 0``) is a usage error naming the option, exit status 2 as click's
    own (``--epochs x``), not 1."""
    try:
        return make(*args, **values)
    except ObjrecError as exc:
        from objrec.cli.messages import to_cli

        ctx = click.get_current_context()
        raise click.UsageError(to_cli(str(exc), ctx.command, exc.values), ctx) from exc


def refuse_unknown_backbone(name: str, mean=None, std=None, data_config=None) -> None:
    """A --backbone that names no network objrec can build (``nosuchnet``), or an ensemble of
    bodies normalised apart without the --mean and --std it needs, as a usage error naming the
    option, exit status 2 as every bad option value (docs/json.md): it was a failed run, exit 1,
    after the heavy imports. A timm name is looked up, its model not built. ``data_config``: how
    a command that takes no --mean/--std reads an ensemble's images (``audit.settings.
    audit_data_config``), refused as it would refuse it."""
    from objrec.backbones import (
        BadBackbone,
        NormalisedApart,
        UnknownTimmModel,
        get_backbone,
        require_known_backbone,
        resolve_data_config,
    )
    from objrec.cli.messages import find_param, to_cli

    try:
        require_known_backbone(name)
        if "+" in name:  # an ensemble's one normalisation, which a run needs
            spec = get_backbone(name)
            data_config(spec) if data_config else resolve_data_config(spec, mean, std)
    except BadBackbone as exc:
        ctx = click.get_current_context()
        param = find_param(ctx.command, "backbone")
        named = isinstance(exc, UnknownTimmModel | NormalisedApart)  # its own way forward
        listed = "" if named else "; `objrec backbones` lists them"
        said = to_cli(str(exc), ctx.command, exc.values)  # `mean` -> --mean
        raise click.BadParameter(f"{said}{listed}", ctx, param) from exc


class PathParam(click.Path):
    """A path argument or option whose refusal says what the path is, one way for every kind:
    ``nope does not exist``, ``a.txt is a file, not a folder``, ``photos is a folder, not a
    file``, ``old is a link to nothing``, ``theirs cannot be read (permission denied)`` (click's
    own says "Directory 'a.txt' is a file"). Each is a usage error, exit status 2 (docs/json.md).
    An output (``writes``) is also refused where it cannot be written: below a file, or in a
    folder the user may not write to (read-only, or another user's).
    """

    def __init__(self, *args: Any, writes: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.writes = writes

    def convert(self, value, param, ctx):
        try:
            converted = super().convert(value, param, ctx)
        except click.BadParameter:
            path = os.fsdecode(value)
            if (refusal := self.refusal(path)) is None:
                raise
            self.fail(f"{path} {refusal}", param, ctx)
        if not self.exists and (below := file_above(os.fsdecode(value))) is not None:
            path = os.fsdecode(value)
            self.fail(f"{path} cannot be written: {below} is a file, not a folder", param, ctx)
        if self.writes and (refused := unwritable(os.fsdecode(value))) is not None:
            self.fail(refused, param, ctx)
        return converted

    def refusal(self, path: str) -> str | None:
        """What is wrong with ``path``, which click refused, checked in click's order: a folder
        the user may not read was called "a file, not a folder", a file "a link to nothing"."""
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except PermissionError:  # a folder on the way that it may not look into
            return "cannot be reached (permission denied)"
        except OSError:  # as click: missing, or a link whose target is gone (or a loop of links)
            return link_refusal(path) if os.path.islink(path) else not_there(path)
        if is_dir and not self.dir_okay:
            return "is a folder, not a file"
        if not is_dir and not self.file_okay:
            return "is a file, not a folder"
        return "cannot be read (permission denied)" if not os.access(path, os.R_OK) else None


def link_refusal(path: str) -> str:
    """Why the link ``path`` leads nowhere: ``is a link to nothing``, or one in a loop of links
    (``ln -s lp2 lp1; ln -s lp1 lp2``), said as such, not as a link to nothing."""
    from objrec.listing import LINK_LOOP, is_looped_link

    return (
        f"is {LINK_LOOP.format(target=os.readlink(path))}"
        if is_looped_link(path)
        else ("is a link to nothing")
    )


def not_there(path: str) -> str:
    """Why ``path`` is not there, after it: ``does not exist``, but a web address or a quoted
    ``~`` said as such (:func:`objrec.images.missing_path`; imported only now, as it needs PIL)."""
    from objrec.images import IMAGE_ERRORS
    from objrec.listing import missing_path

    why = missing_path(path)[1]
    missing = IMAGE_ERRORS["missing"]
    return "does not exist" + why.removeprefix(missing) if why.startswith(missing) else f"is {why}"


def file_above(path: str) -> str | None:
    """The file on the way to ``path``, an output to make (``notes.txt`` of ``notes.txt/run``),
    if any: ``path`` cannot be written, refused as a usage error naming the option (exit status
    2) as every other bad path is, not found by the command once it ran."""
    for above in Path(path).parents:
        try:
            is_dir = stat.S_ISDIR(os.stat(above).st_mode)
        except OSError:  # not there (made by the command), or not reachable: the command says
            continue
        return None if is_dir else str(above)
    return None


def unwritable(path: str) -> str | None:
    """Why the output ``path`` cannot be written, if the user may not write in the folder it
    goes in (read-only, or another user's): :func:`objrec.outputs.refuse_unwritable`'s sentence,
    said before the command runs, as a usage error naming the option (exit status 2). A path that
    cannot be resolved (a loop of links) is left to the command, which names it."""
    try:
        refuse_unwritable(Path(path), resolved(Path(path)))
    except OSError:
        return None
    except ObjrecError as exc:
        return str(exc)
    return None


def require_folder(path: Path, name: str) -> None:
    """The refusal of :class:`PathParam` for an argument it could not check itself: ``path``,
    given as ``name`` (``DATA``), is not a folder."""
    if not path.is_dir():
        raise click.BadParameter(f"{path} is a file, not a folder", param_hint=f"'{name}'")


GREEDY_OPTIONS = ("--exclude", "--classes")
TRAIN = TrainConfig()  # the CLI shows and uses the library's own defaults
DIR = PathParam(path_type=Path, file_okay=False)
"""A folder, there or not."""
EXISTING = PathParam(path_type=Path, exists=True)
"""A file or a folder that is there (a run: its folder or a checkpoint file)."""
FOLDER = PathParam(path_type=Path, exists=True, file_okay=False)
"""A folder that is there (the data a command reads)."""
FILE = PathParam(path_type=Path, exists=True, dir_okay=False)
"""A file that is there."""
OUT_FILE = PathParam(path_type=Path, dir_okay=False, writes=True)
"""A file to write, there or not."""
OUT_DIR = PathParam(path_type=Path, file_okay=False, writes=True)
"""A folder to write in, there or not."""


class FiniteFloat(click.ParamType):
    """A number that is finite: a threshold of NaN answers nothing, silently (``nan < x`` is
    never true)."""

    name = "number"

    def convert(self, value, param, ctx) -> float:
        number = value if isinstance(value, float) else click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE = FiniteFloat()


class FloatRange(click.FloatRange):
    """click's ``FloatRange``, its refusal saying the value as typed (``--days -1`` is "-1",
    not click's "-1.0"), so that the user reads back the number they wrote."""

    def convert(self, value, param, ctx) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as exc:
            typed, echoed = (value.strip() if isinstance(value, str) else ""), ""
            with contextlib.suppress(ValueError):  # not a number: said as typed already
                echoed = str(float(typed))
            if echoed not in ("", typed):
                self.fail(exc.message.replace(echoed, typed, 1), param, ctx)
            raise


class Choice(click.Choice):
    """One of a few words (``--split``, ``--runtime``, ``--precision``), whose refusal asks "is
    it X?" of a misspelt one as every name objrec refuses does (``words.is_it``), after
    click's list of the words: a near miss is named, not left to be found in the list."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        from objrec.words import is_it

        said = super().get_invalid_choice_message(value, ctx).rstrip(".")
        return f"{said}{is_it(str(value), map(str, self.choices))}"


# Here, not in ``devices``: that module imports torch, which the CLI loads only when a command runs.
DEVICE_HELP = (
    "Where to compute. auto uses an NVIDIA GPU when PyTorch sees one, else the CPU (nothing to set "
    "on a machine without one); cpu always uses the CPU; cuda the first GPU, cuda:N GPU number N "
    "(counted from 0)."
)
TRAIN_DEVICE_HELP = DEVICE_HELP + (
    " To train on N GPUs at once: torchrun --nproc-per-node N -m objrec train ... "
    "(docs/scaling.md); there auto and cuda mean each process's own GPU."
)


CACHE_DEFAULT = DEFAULT_WORDS
"""``--cache-dir``'s default as ``--help`` says it, for every command that takes it."""

RUNTIMES = ("onnx", "torch")
"""``--runtime``'s choices, in the one order predict's and serve's ``--help`` list them."""


TRAIN_METAVARS = {
    "backbone": "NAME",
    "mean": "VALUE...",
    "std": "VALUE...",
    "epochs": "N",
    "patience": "N",
    "min_delta": "LOSS",
    "batch_size": "N",
    "lr": "RATE",
    "weight_decay": "VALUE",
    "hidden": "N",
    "dropout": "SHARE",
    "heads": "N",
    "aug_views": "N",
    "label_smoothing": "SHARE",
    "finetune_blocks": "N",
    "finetune_epochs": "N",
    "finetune_lr": "RATE",
    "seed": "N",
}
"""What each of train's options takes, in a word, for ``--help``: click's own type names
(INTEGER, FLOAT, TEXT) said how Python stores it, not what to give (newcomer63b's leftovers)."""


def config_option(flag: str, see: str = "", **kwargs):
    """A ``train`` option whose type, default and help are those of the TrainConfig field it sets
    (the help: :func:`option_help`), its first sentence ending with ``see`` in brackets where
    given: what the CLI says of it beside another command's option (``--num-workers``, not
    serve's ``--workers``), which ``--help`` shows too."""
    name = flag.lstrip("-").replace("-", "_")
    if name in TRAIN_METAVARS:
        kwargs.setdefault("metavar", TRAIN_METAVARS[name])
    default = getattr(TRAIN, name)
    text = option_help(name, getattr(kwargs.get("type"), "choices", ()))
    if see:
        text = re.sub(r"[.](?=\s|$)", f" ({see}).", text, count=1)
    if default is None:
        return click.option(flag, help=text, **kwargs)
    kwargs.setdefault("type", type(default))
    return click.option(flag, default=default, show_default=True, help=text, **kwargs)


def option_help(
    name: str, choices: Sequence[str] = (), cls: type = TrainConfig, options: Sequence[str] = ()
) -> str:
    """The help of the option for the setting ``name`` of ``cls`` (``train``'s TrainConfig):
    the first two sentences of its documentation, a short one that ``--help`` shows and what
    ``--help-all`` adds (what follows is for readers of the code, ``help(TrainConfig)``). Another
    field it names is spelled as its option (``finetune_blocks`` -> --finetune-blocks), as is a
    parameter of the command's function beside ``cls`` among ``options`` (audit's ``run``), a
    command in backticks (`objrec check`), a value as it is, one of the option's ``choices`` too
    where a field has its name (--balance's ``weights``, not --weights).
    """
    fields = (set(field_docs(cls)) | set(options)) - set(choices)

    def spelled(match: re.Match) -> str:
        word = match.group(1)
        if word in fields:
            return "--" + word.replace("_", "-")
        return f"`{word}`" if " " in word else word

    return re.sub(r"``([^`]+)``", spelled, first_sentences(field_docs(cls)[name], 2))


FORCE_OUT = (
    "Write into --out when it is not empty. Over objrec's earlier outputs, beside other files; "
    "a file of yours of a name objrec writes is refused, and so is a link of such a name."
)
REWRITTEN = (
    "written again on a re-run over the files objrec recorded writing, unless you changed one since"
)
"""What a re-run does to the default ``--out`` of a command writing beside what it reads."""


def json_option(what: str, more: str = "") -> Callable:
    """``--json``, one help for every command that has it: what it prints (``what``:
    "the counts") and where its keys are (docs/json.md), then what ``more`` it says (predict's
    keys in brief)."""
    text = f"Print {what} as JSON (keys: docs/json.md)." + (f" {more}" if more else "")
    return click.option("--json", "as_json", is_flag=True, help=text)


def out_option(holds: str, default: str, where: str, *, said: str = "", sample: bool = False):
    """``--out`` of a command writing a folder beside what it reads (explore, audit, suggest):
    what the folder ``holds``, its ``default`` as ``--help`` shows it and ``where`` that is, written
    again on a re-run (:data:`REWRITTEN`, then ``said``: an example of such a file), and
    (``sample``) in the current folder for the built-in sample, whose folder is the package's."""
    text = f"Folder for {holds}. Without it, {where}, {REWRITTEN}{said}"
    text += "; in the current folder for the built-in sample." if sample else "."
    return click.option("--out", type=OUT_DIR, show_default=default, help=text)


def force_option(more: str = "") -> Callable:
    """``--force`` of a command whose ``--out`` is a folder (:data:`FORCE_OUT`), then what else it
    does for this command (``more``)."""
    return click.option("--force", is_flag=True, help=f"{FORCE_OUT} {more}".rstrip())


COPY_OPTION = click.option(
    "--copy/--link",
    "copy",
    default=True,
    show_default=True,
    help=option_help("mode", cls=SplitConfig),
)
"""``--copy/--link``, of one meaning for ``split``, ``add`` and ``apply-plan``."""


def new_class_option(which: str, before: str):
    """``--new-class``, one flag of one meaning for ``add`` and ``apply-plan``: a new class named
    like one of DATA's (``which``: where the command reads its classes) made anyway, not refused
    as the misspelling it likely is (``data.refuse_likely_misspelt``) before ``before``."""
    return click.option(
        "--new-class",
        "new_class",
        is_flag=True,
        help="Make a new class even when it is named like one of DATA's. Without it, such a class "
        f"(sunflowr beside sunflower: {which}) is refused as the misspelling it likely is, with "
        f"'is it sunflower?', before {before}.",
    )


def cache_dir_option(keeps: str) -> Callable:
    """``--cache-dir`` as each command that keeps something in the cache folder offers it, with
    train's name, default and help, then what this command keeps there (``keeps``)."""
    help = option_help("cache_dir") + " " + keeps
    return click.option("--cache-dir", type=DIR, show_default=CACHE_DEFAULT, help=help)


def refuse_cache_inside(
    cache_dir: PathGiven | None, *read: Path, what: str = "data folder", run: Path | None = None
) -> None:
    """The cache folder the command keeps what it works out in refused as a usage error (exit
    status 2) where it is, or lies inside, a folder ``read`` the command reads, as an --out there
    is: its store/, onnx/ and facts.sqlite would be read as a class of photos (an empty one) the
    next time, and a folder of photos is only read. That folder is ``cache_dir`` (--cache-dir),
    else the one the run ``run`` was trained with (``current.run_cache_dir``: evaluate's,
    predict's, suggest's and audit --run's), else $OBJREC_CACHE or the default one: the one
    check of every command that keeps something there (late60 L5)."""
    from objrec.cache_folder import default_cache_dir
    from objrec.current import run_cache_dir
    from objrec.outputs import refuse_inside

    if cache_dir:
        for source in read:
            from_options(refuse_inside, Path(cache_dir), source, name="cache_dir", what=what)
        return
    recorded = run_cache_dir(run) if run is not None else None
    folder = Path(recorded) if recorded else default_cache_dir()
    for source in read:
        if cache_read_from(folder.resolve(), Path(source).resolve()):
            raise click.UsageError(cache_inside(folder, source, what, recorded is not None))


def cache_read_from(cache: Path, source: Path) -> bool:
    """Whether a listing of ``source`` would walk into the cache folder ``cache``: it is, or lies
    inside, ``source`` and below no hidden folder (``listing.is_hidden``: never listed), so that
    ``objrec predict RUN ~`` goes on with the default ~/.cache/objrec (late61 L2), as the cache
    there cannot be read as photos."""
    from objrec.listing import is_hidden

    if not cache.is_relative_to(source):
        return False
    return not any(is_hidden(Path(part)) for part in cache.relative_to(source).parts)


def cache_inside(folder: Path, source: Path, what: str, the_runs: bool) -> str:
    """The refusal of a cache folder not given on the command line inside ``source``: whose it
    is (the run's, $OBJREC_CACHE, the default) and how to choose another, this command's way."""
    has_option = find_option("--cache-dir") is not None
    whose = "the run's, from train's --cache-dir" if the_runs else "$OBJREC_CACHE"
    if not the_runs and not os.environ.get("OBJREC_CACHE"):
        whose = "the default one"
    if has_option:
        how = "give --cache-dir outside it"
    elif the_runs:
        how = "move it out of there (then set OBJREC_CACHE to where it went)"
    else:
        how = "set OBJREC_CACHE to a folder outside it"
    where = "is" if folder.resolve() == Path(source).resolve() else "lies inside"
    return f"the cache folder {folder} ({whose}) {where} the {what} {source}: {how}"


def find_option(flag: str) -> click.Parameter | None:
    """The running command's option ``flag``, None when it has none."""
    ctx = click.get_current_context()
    return next((p for p in ctx.command.params if flag in getattr(p, "opts", ())), None)


def device_option(command):
    """``--device``; ``train``'s help also says how to use several GPUs (the others run on one)."""
    text = TRAIN_DEVICE_HELP if command.__name__ == "train" else DEVICE_HELP
    return click.option(
        "--device",
        metavar="DEVICE",
        default="auto",
        show_default=True,
        help=text,
        callback=known_device,
    )(command)


def known_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--device`` as a device name, one naming none (``bogus``) a usage error (exit 2, as any
    bad option value: docs/json.md) before PyTorch loads."""
    return from_options(require_device, value)


def refuse_swapped(command: str, run: Path, second: Path) -> None:
    """``objrec evaluate DATA RUN`` or ``objrec predict IMAGE RUN``: when RUN holds no checkpoint
    but is a file or looks like a data folder (class or split folders, images) and the second
    argument holds one, say which comes first, before anything reads the second's files. A run
    folder given first is seen without importing PyTorch (``objrec.checkpoint`` does: seconds
    before the command's progress could say what it was doing)."""
    from objrec.run_files import BEST

    with contextlib.suppress(OSError):  # a folder one may not enter: is_checkpoint says no
        if (run / BEST).is_file():  # the usual order: a run folder first
            return
    from objrec.model_file import is_checkpoint

    if is_checkpoint(run) or not is_checkpoint(second):  # the usual order reads no second
        return
    swapped = " ".join(shlex.quote(str(p)) for p in (second, run))
    hint = f"({second} comes first: objrec {command} {swapped})"
    if run.is_file():
        raise UsageRefused(f"{run} is not an objrec checkpoint {hint}")
    if looks_like_data(run):
        raise UsageRefused(f"no checkpoint at {run / BEST} {hint}")


def looks_like_data(folder: Path) -> bool:
    """True for a folder holding visible sub-folders or images; False where it cannot be listed
    (the library's own error then says what it is)."""
    from objrec.listing import is_hidden, is_image_file

    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return any((p.is_dir() and not is_hidden(p)) or is_image_file(p) for p in entries)


RUNS_OWN = "the run's own"
"""``--threshold``'s default as ``--help`` says it: the threshold the run chose, or the one
``evaluate --keep-threshold`` kept with it."""


def unknown_options(command):
    """``--threshold`` and ``--no-unknown``, shared by predict and serve."""
    command = click.option(
        "--no-unknown",
        "no_unknown",
        is_flag=True,
        help="Never answer unknown. Always the top classes, however unfamiliar the image.",
    )(command)
    return click.option(
        "--threshold",
        type=FINITE,
        show_default=RUNS_OWN,
        help="Answer unknown below this familiarity. It replaces the run's own threshold (chosen "
        "on the valid split). The familiarity is 1 for a typical image of the known classes, "
        "0 at the run's threshold (a run with --unknown-score msp: the top probability; a run "
        "trained before the familiarity: its raw feature score, with its own threshold); "
        "`objrec serve` /info (unknown_score_readable) and predict --json show it.",
    )(command)


def refuse_unknown_conflict(threshold: float | None, no_unknown: bool) -> None:
    """``--threshold`` with ``--no-unknown``: the threshold would be ignored without a word."""
    if threshold is not None and no_unknown:
        raise click.UsageError(
            "--threshold and --no-unknown do not go together: --no-unknown never answers unknown, "
            "whatever the threshold"
        )


def expand_greedy(argv: list[str]) -> list[str]:
    """``--exclude A B`` -> ``--exclude A --exclude B`` (``--classes`` too): several values may
    follow one flag. A flag with no value before the next option or the end is kept as given,
    for :func:`refuse_bare_greedy` to say: it was dropped, so ``--exclude -v`` left no class
    out without a word."""
    result: list[str] = []
    flag, bare = None, False
    for arg in argv:
        if flag is not None and not arg.startswith("-"):
            result += [flag, arg]
            bare = False
            continue
        result += [flag] if bare and flag is not None else []
        flag, bare = (arg, True) if arg in GREEDY_OPTIONS else (None, False)
        result += [] if bare else [arg]
    return result + ([flag] if bare and flag is not None else [])


def refuse_bare_greedy(args: Sequence[str], command: click.Command | None) -> None:
    """A usage error for ``--exclude`` or ``--classes`` of ``command`` (the command ``args``
    runs) with no class name after it (the next word an option, or none): click would take the
    option for a class name (``--exclude -v`` a class named -v) or say only that it needs an
    argument, not that it takes words up to the next option. A command without such an option
    is left to click, which says it has none."""
    takes = {name for param in command.params for name in param.opts} if command else set()
    for i, arg in enumerate(args):
        if arg == "--":
            return
        after = args[i + 1] if i + 1 < len(args) else None
        if arg in GREEDY_OPTIONS and arg in takes and (after is None or after.startswith("-")):
            came = f" ({after} came next)" if after is not None else ""
            raise click.BadOptionUsage(
                arg,
                f"{arg} has no class name after it{came}: it takes the words after it, up to "
                "the next option, as class names",
            )


def given_options(names: Sequence[str]) -> list[str]:
    """The flags of the options among ``names`` that the command line or the environment gave."""
    ctx = click.get_current_context()
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    opts = {param.name: param.opts[0] for param in ctx.command.params}
    return [opts[name] for name in names if ctx.get_parameter_source(name) in given]


def command_line() -> list[str] | None:
    """The command line this command was given (``main``'s, before ``--exclude A B`` was
    expanded), ``objrec`` first (under torchrun torchrun's words, ``torchrun --standalone
    --nproc-per-node N -m objrec``, as typed where they can be read, else rebuilt:
    ``messages.launcher``): what ``split`` and ``train`` record so that a reader can run it again.
    Nothing objrec takes on its command line is a secret (no password, token or key), so it is
    recorded whole. None when the command was not started by ``main``."""
    from objrec.cli.messages import launcher

    typed = click.get_current_context().find_root().obj
    if not isinstance(typed, list):
        return None
    return [*shlex.split(launcher()), *map(str, typed)]
