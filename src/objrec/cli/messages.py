"""The library's sentences in the CLI's terms: an API parameter named in an error or a warning
(`force=True`) becomes the command's option (--force), an API function or call (`train`,
`split_folder(src, out, force=True)`, `open_cache(cache_dir='c').clear()`) the command line
that does the same (`objrec train`, `objrec split SRC OUT --force`, `objrec cache --clear
--cache-dir c`); OS and click errors become one sentence.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

API_NAME = re.compile(r"`([a-z_]+)(?:=([^`]*)|(\([^`]*\)))?`")
"""A parameter or function named in an ObjrecError or a warning as the Python API spells it:
`force=True`, `epochs`, `train`, `split_folder('photos', 'data', force=True)`."""
OPTIONAL_NAME = re.compile(r" or `([a-z_]+)`")
"""An API parameter a message offers as an alternative (OBJREC_CACHE or `cache_dir`): left out
where the command has no such option."""
QUOTES = "\"'"
API_ALIASES = {"data_dir": "data", "folder": "data", "older_than_days": "days"}
"""API parameters that the CLI calls by another name."""
API_COMMANDS = {
    "split_folder": "split",
    "add_images": "add",
    "check_folder": "check",
    "audit_folder": "audit",
    "apply_plan": "apply-plan",
    "export_model": "export",
    "build_report": "report",
    "run_demo": "demo",
    "open_cache": "cache",
}
"""API functions run by a command of another name (``train`` is run by ``objrec train``); a
method called on what one returns is that command's flag (``open_cache(...).clear()``:
``objrec cache --clear``)."""


def find_param(command: click.Command | None, name: str) -> click.Parameter | None:
    """``command``'s option or argument for the API parameter ``name``, if it has one."""
    params = list(command.params) if command else []
    flag = "--" + name.replace("_", "-")
    param = next((p for p in params if p.name == name), None)
    return param or next((p for p in params if flag in p.opts), None)


def objrec_command(function: str) -> click.Command | None:
    """The command that runs the API function ``function``, if one does."""
    from objrec.cli import cli  # the group, which imports every command (and this module)

    return cli.commands.get(API_COMMANDS.get(function, function))


def cli_spelling(
    command: click.Command | None,
    name: str,
    value: str | None,
    values: dict[str, str],
    whole: bool = True,
) -> str:
    """How ``command`` spells the API parameter ``name`` (set to ``value``): ``force=True`` ->
    ``--force``, ``copy=False`` -> ``--link``, ``epochs`` -> ``--epochs``, ``run`` -> ``RUN``,
    ``against=old_run`` -> ``--against OLD_RUN`` (a name spelled as the option's metavar, or as
    one of its alternatives: ``unknown=folder`` -> ``--unknown FOLDER`` of ``FOLDER|CSV``);
    ``resume=True`` -> ``--resume PATH`` with the error's own value, else ``--resume RUN``, and
    the whole command (``train DATA --resume PATH``) when the error's values name its data and
    ``whole`` (not for a keyword of a call, which :func:`call_spelling` makes the command of)."""
    name = API_ALIASES.get(name, name)
    param = find_param(command, name)
    if isinstance(param, click.Argument):
        return param.human_readable_name
    if isinstance(param, click.Option):
        if param.is_flag and value == "False" and param.secondary_opts:
            return param.secondary_opts[0]
        if param.is_flag or value is None:
            return param.opts[0]
        if value != "True" and value in values:  # `out=run`, with the error's own run
            return f"{param.opts[0]} {shlex.quote(values[value])}"
        if value.isidentifier() and value.upper() in (param.metavar or "").split("|"):
            return f"{param.opts[0]} {value.upper()}"  # `against=old_run`, `unknown=folder`
        if value == "True":  # an API switch whose option takes a value: --resume RUN
            given = shlex.quote(values[name]) if name in values else None
            option = f"{param.opts[0]} {given or param.metavar or name.upper()}"
            if whole and "data" in values and command is not None:  # it needs DATA too
                start = launcher(launched_as(values))
                return f"`{start} {command.name} {shlex.quote(values['data'])} {option}`"
            return option
        return f"{param.opts[0]} {shell_word(value)}"
    return name if value is None else f"{name}={value}"


def under_torchrun(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is one of a torchrun job's: ``WORLD_SIZE`` and ``MASTER_ADDR`` set, as
    ``distributed.world_from_env`` reads them."""
    return "WORLD_SIZE" in environ and "MASTER_ADDR" in environ


def launcher(environ: Mapping[str, str] | None = None) -> str:
    """How a command was started, as a command line's first words: ``objrec``, or under torchrun
    (``WORLD_SIZE`` and ``MASTER_ADDR`` set, as ``distributed.world_from_env`` reads them)
    torchrun's own words up to its program (``torchrun --standalone --nproc-per-node N -m
    objrec``), as typed where this process (``environ`` None: its own environment) reads them
    (:func:`torchrun_as_typed`), else rebuilt from torchrun's environment: ``torchrun
    --nproc-per-node N -m objrec``, with ``--nnodes M`` across machines, without the flags the
    environment does not tell (``--standalone``, ``--rdzv-*``, ``--master-port``). A resume the
    message gives then runs as the interrupted run did. In one process it draws its batches
    otherwise than N ranks do, and ends with other weights."""
    typed = torchrun_as_typed() if environ is None else None
    environ = os.environ if environ is None else environ
    if not under_torchrun(environ):
        return "objrec"
    if typed:
        return shlex.join(typed)
    per_node = max(int(environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    nodes = max(int(environ["WORLD_SIZE"]) // per_node, 1)
    nnodes = f"--nnodes {nodes} " if nodes > 1 else ""
    return f"torchrun {nnodes}--nproc-per-node {per_node} -m objrec"


def torchrun_as_typed() -> list[str] | None:
    """The words of the torchrun that started this process, ``torchrun`` first, up to the program
    it runs (``-m objrec``), from its process's command line (Linux's ``/proc``); None where that
    cannot be read, or is not a torchrun's running this process's arguments
    (:func:`torchrun_words`)."""
    if not under_torchrun(os.environ):
        return None
    try:
        agent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode()
    except (OSError, UnicodeDecodeError):
        return None
    return torchrun_words(agent.split("\0")[:-1], sys.argv[1:])


def torchrun_words(agent: Sequence[str], args: Sequence[str]) -> list[str] | None:
    """The launcher's words of torchrun's command line ``agent`` (``torchrun ...``, ``python
    .../torchrun ...`` or ``python -m torch.distributed.run ...``) that runs a program with
    ``args``: ``torchrun``, its flags and the program, the words before ``args``; None for
    another command line."""
    named = [i + 1 for i, word in enumerate(agent[:2]) if Path(word).name == "torchrun"]
    module = list(agent[1:3]) == ["-m", "torch.distributed.run"]
    start = named[0] if named else 3 if module else None
    if start is None:
        return None
    words = list(agent[start:])
    program = len(words) - len(args)
    if program < 1 or words[program:] != list(args):
        return None
    return ["torchrun", *words[:program]]


def launched_as(values: Mapping[str, str]) -> Mapping[str, str] | None:
    """What :func:`launcher` reads for a sentence whose ``values`` say how the command it gives is
    launched (``launched``, see ``errors.LOGGED_VALUES``: a resume as the run started), as
    torchrun would set it; else None, this process's own."""
    if values.get("launched") == "alone":
        return {}
    if values.get("launched") == "torchrun":
        return {"MASTER_ADDR": "", **{k: values[k] for k in ("WORLD_SIZE", "LOCAL_WORLD_SIZE")}}
    return None


def shell_word(value: str) -> str:
    """An API value as the shell takes it: a string quoted only where the shell needs it
    (``'a b'``, ``fp32``), a tuple as the words of an option of several values (``(1, 0, 0)``
    -> ``1 0 0``), anything else as written (``0.5``)."""
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value.strip(QUOTES)
    if isinstance(literal, tuple):
        return " ".join(shell_word(repr(item)) for item in literal)
    return shlex.quote(literal) if isinstance(literal, str) else value.strip(QUOTES)


def to_cli(
    message: str, command: click.Command | None, values: dict[str, str] | None = None
) -> str:
    """An ObjrecError's message with the API's parameter names spelled as ``command``'s options
    (``values``: the error's values for options that take one, e.g. the run to resume); an
    alternative the command has no option for (:data:`OPTIONAL_NAME`) is left out."""
    if command is not None:
        message = OPTIONAL_NAME.sub(
            lambda m: m.group(0) if find_param(command, m.group(1)) else "", message
        )
    return API_NAME.sub(lambda m: spelled(m, command, values or {}), message)


def spelled(match: re.Match, command: click.Command | None, values: dict[str, str]) -> str:
    """One API name of a message (:data:`API_NAME`) as ``command`` spells it: a parameter as
    its option or argument (:func:`cli_spelling`); else a function as the command that runs it,
    in backticks (`train` -> `objrec train`), a call with its arguments (:func:`call_spelling`);
    a call no command makes is left as it is."""
    name, value, arguments = match.groups()
    if arguments is not None:
        return call_spelling(name, arguments, values) or match.group(0)
    target = objrec_command(name) if value is None else None
    if target is not None and find_param(command, API_ALIASES.get(name, name)) is None:
        return f"`objrec {target.name}`"
    return cli_spelling(command, name, value, values)


def call_spelling(function: str, arguments: str, values: dict[str, str]) -> str | None:
    """An API call as the command line that does the same, in backticks:
    `split_folder('a b', 'out', force=True)` -> `objrec split 'a b' out --force`,
    `audit_folder(data)` -> `objrec audit DATA` (the folder itself when ``values`` name it),
    `open_cache(cache_dir='c').clear()` -> `objrec cache --clear --cache-dir c`; None when no
    command runs ``function`` (or has the method's flag) or the arguments are no Python."""
    command = objrec_command(function)
    try:
        call, method, options = called(ast.parse(f"f{arguments}", mode="eval").body)
    except SyntaxError:
        return None
    if command is None or not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return None  # not the function's own call: `f(x).clear(1)`, `f(x)[0]`
    flags = [find_param(command, name) for name in method]
    if not all(isinstance(flag, click.Option) and flag.is_flag for flag in flags):
        return None
    words = [f"objrec {command.name}", *(flag.opts[0] for flag in flags if flag is not None)]
    words += [argument_spelling(command, argument, values) for argument in call.args]
    words += [
        cli_spelling(command, keyword.arg, ast.unparse(keyword.value), values, whole=False)
        for keyword in [*call.keywords, *options]
        if keyword.arg is not None
    ]
    return f"`{' '.join(words)}`"


def called(call: ast.expr) -> tuple[ast.expr, list[str], list[ast.keyword]]:
    """An API call, the method called on what it returns, if any, and that method's keywords
    (options of the command, as the call's own are): ``f(x).clear()`` -> (``f(x)``,
    ``["clear"]``, ``[]``), ``f(x).prune(older_than_days=30)`` -> (``f(x)``, ``["prune"]``,
    ``[older_than_days=30]``), ``f(x)`` -> (``f(x)``, ``[]``, ``[]``)."""
    method = call.func if isinstance(call, ast.Call) else None
    if not isinstance(call, ast.Call) or call.args or not isinstance(method, ast.Attribute):
        return call, [], []
    if not isinstance(method.value, ast.Call):
        return call, [], []
    return method.value, [method.attr], call.keywords


def argument_spelling(command: click.Command, argument: ast.expr, values: dict[str, str]) -> str:
    """A positional argument of an API call as the shell takes it: a value quoted (``'a b'``), a
    name by its value in ``values``, else as ``command`` calls it (``DATA``), else in capitals
    (``old_run`` -> ``OLD_RUN``)."""
    if isinstance(argument, ast.Constant):
        return shlex.quote(str(argument.value))
    name = ast.unparse(argument)
    if name in values:
        return shlex.quote(values[name])
    param = find_param(command, API_ALIASES.get(name, name))
    return param.human_readable_name if isinstance(param, click.Argument) else name.upper()


CLICK_TYPES = {
    "is not a valid integer range": "is not a whole number",
    "is not a valid float range": "is not a number",
    "is not a valid integer": "is not a whole number",
    "is not a valid float": "is not a number",
}
"""Click's names for an option's type, in its refusal ("'three' is not a valid integer range",
"'x' is not a valid float"), said in words a user reads, the same for every option of a type,
bounded or not (each bounded one first: it holds the unbounded one's words)."""


MANY_ARGUMENT = re.compile(r"^(invalid value for )'\[?([A-Z][A-Z_]*)\]?\.\.\.'")
"""Click's hint for an argument of many values, as its usage line writes it ('[NEW]...',
'PATHS...'): a refusal of one of its values names the argument ('NEW'), as for any other."""


def usage_sentence(exc: click.ClickException, command: str | None = None, note: str = "") -> str:
    """Click's own errors in objrec's form: one lower-case sentence, its ``note`` (``; --exclude
    takes every word after it ...``), then where help is: the error's command, else ``command``
    (click gives none for an option given too few values). The note comes before the help's
    place, which ends the sentence: after it, it read as an afterthought of the parenthesis."""
    text = likely_meant(exc) or exc.format_message().strip().rstrip(".")
    text = text[:1].lower() + text[1:]
    for said, meant in CLICK_TYPES.items():
        text = text.replace(said, meant)
    text = MANY_ARGUMENT.sub(r"\1'\2'", text) + note
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else command
    if where is not None:
        text += f" (see {where} --help)"
    return text


def as_argument(option: str, ctx: click.Context) -> str:
    """`` (DEST is an argument: give it without --out)`` where ``option`` names one of the
    command's arguments, else nothing: `share RUN --out DIR` was asked "(is it out?)", the
    argument's name, which no option is."""
    name, params = option.lstrip("-").replace("-", "_"), ctx.command.get_params(ctx)
    argument = next((p for p in params if isinstance(p, click.Argument) and p.name == name), None)
    if argument is None:
        return ""
    return f" ({argument.make_metavar(ctx)} is an argument: give it without {option})"


def as_out_option(exc: click.ClickException, ctx: click.Context) -> str | None:
    """Click's "got unexpected extra argument (x.onnx)" with `` (is it --out FILE?)`` where the
    command takes ``--out`` and one word too many came: `export RUN x.onnx` named its file as
    `share RUN DEST` does, without the option. None for any other error."""
    said = exc.format_message().strip()
    options = [p for p in ctx.command.get_params(ctx) if isinstance(p, click.Option)]
    out = next((p for p in options if "--out" in p.opts), None)
    if out is None or not said.startswith("Got unexpected extra argument ("):
        return None
    return f"{said} (is it --out {out.make_metavar(ctx)}?)"


def likely_meant(exc: click.ClickException) -> str | None:
    """An unknown option or command, with the one it most likely means by objrec's own rule
    (``words.close_match``: "is it X?", as a class name or a setting is asked), where click
    asked by Python's looser one: ``--worts`` got "Did you mean one of: '--out', '--worst'?".
    None for any other error."""
    from objrec.words import is_it

    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return None
    if isinstance(exc, click.NoSuchOption):
        options = [p for p in ctx.command.get_params(ctx) if isinstance(p, click.Option)]
        names = [o for p in options for o in (*p.opts, *p.secondary_opts)]
        hint = is_it(exc.option_name, names) or as_argument(exc.option_name, ctx)
        return f"no such option {exc.option_name!r}{hint}"
    if isinstance(exc, click.NoSuchCommand) and isinstance(ctx.command, click.Group):
        commands = ctx.command.list_commands(ctx)
        return f"no such command {exc.command_name!r}{is_it(exc.command_name, commands)}"
    return as_out_option(exc, ctx)
