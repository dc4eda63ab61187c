"""The library's sentences in the CLI's terms: an API parameter named in an error
(`force=True`) becomes the command's option (``--force``); OS and click errors become one sentence.
"""

from __future__ import annotations

import re
import shlex

import click

API_NAME = re.compile(r"`([a-z_]+)(?:=([^`]*))?`")
"""A parameter named in an ObjrecError as the Python API spells it: `force=True`, `epochs`."""
QUOTES = "\"'"
API_ALIASES = {"data_dir": "data", "folder": "data"}
"""API parameters that the CLI calls by another name."""


def cli_spelling(
    command: click.Command | None, name: str, value: str | None, values: dict[str, str]
) -> str:
    """How ``command`` spells the API parameter ``name`` (set to ``value``): ``force=True`` ->
    ``--force``, ``copy=False`` -> ``--link``, ``epochs`` -> ``--epochs``, ``run`` -> ``RUN``;
    ``resume=True`` -> ``--resume PATH`` with the error's own value, else ``--resume RUN``, and
    the whole command (``train DATA --resume PATH``) when the error's values name its data."""
    params = list(command.params) if command else []
    name = API_ALIASES.get(name, name)
    flag = "--" + name.replace("_", "-")
    param = next((p for p in params if p.name == name), None)
    param = param or next((p for p in params if flag in p.opts), None)
    if isinstance(param, click.Argument):
        return param.human_readable_name
    if isinstance(param, click.Option):
        if param.is_flag and value == "False" and param.secondary_opts:
            return param.secondary_opts[0]
        if param.is_flag or value is None:
            return param.opts[0]
        if value == "True":  # an API switch whose option takes a value: --resume RUN
            given = shlex.quote(values[name]) if name in values else None
            option = f"{param.opts[0]} {given or param.metavar or name.upper()}"
            if "data" in values and command is not None:  # the whole command: it needs DATA too
                return f"`objrec {command.name} {shlex.quote(values['data'])} {option}`"
            return option
        return f"{param.opts[0]} {value.strip(QUOTES)}"
    return name if value is None else f"{name}={value}"


def to_cli(
    message: str, command: click.Command | None, values: dict[str, str] | None = None
) -> str:
    """An ObjrecError's message with the API's parameter names spelled as ``command``'s options
    (``values``: the error's values for options that take one, e.g. the run to resume)."""
    return API_NAME.sub(
        lambda m: cli_spelling(command, m.group(1), m.group(2), values or {}), message
    )


def os_error_sentence(exc: OSError) -> str:
    """Which file the operating system refused, and why: ``/data/cats: permission denied`` (an
    error without the system's reason keeps its own words, first line only: ``-vv`` logs the
    traceback)."""
    words = str(exc).splitlines() or [type(exc).__name__]
    reason = exc.strerror.lower() if exc.strerror else words[0]
    if exc.filename is None:
        return reason
    files = " and ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    return f"{files}: {reason}"


def usage_sentence(exc: click.ClickException) -> str:
    """Click's own errors in objrec's form: one lower-case sentence, then where help is."""
    text = exc.format_message().strip().rstrip(".")
    text = text[:1].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        text += f" (see {ctx.command_path} --help)"
    return text
