"""Each command's ``--help`` at a glance, ``--help-all`` in full.

``--help`` shows the command's description up to its form feed (``\\f``, click's own marker for
text the help leaves out), the options a first run needs under "Options", and the rest under
headings that say what they are for, each option in its first sentence with its default.
``--help-all`` shows the whole description and every option's whole text, then a few example
command lines where the command has them. An option's help therefore starts with a short
sentence that names what it sets; the sentences after it explain.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import click

HELP_ALL = "--help-all"
HELP_FLAGS = frozenset({"-h", "--help", HELP_ALL})
"""The flags that print a command's help instead of running it."""
FIRST = "Options"
"""The heading of the options a first run needs; the help options end it."""
FULL = "objrec.help_all"
"""``ctx.meta``'s key: the help being written is ``--help-all``'s."""


def first_sentences(text: str, count: int = 1) -> str:
    """``text``'s first ``count`` sentences (each ending at a full stop followed by a space, or at
    the end), in one line: its first is an option's line of ``--help``."""
    text = " ".join(text.split())
    ends = [match.end() for match in re.finditer(r"[.](?=\s|$)", text)]
    return text[: ends[count - 1]] if len(ends) >= count else text


def show_all(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--help-all``'s callback: the help in full, then exit (as click's ``--help`` does)."""
    if not value or ctx.resilient_parsing:
        return
    ctx.meta[FULL] = True
    click.echo(ctx.get_help(), color=ctx.color)
    ctx.exit()


class Sectioned(click.Command):
    """A command whose ``--help`` shows each option in its first sentence, and ``--help-all`` in
    full. With ``sections`` (heading -> option names, the first heading's those a first run
    needs) it groups them under those headings; an option no section names is listed under
    "More options" (``tests/test_cli.py`` checks that none is). Without, all are "Options".
    ``examples``, command lines with a comment each, end ``--help-all`` under "Examples"."""

    def __init__(
        self,
        *args: Any,
        sections: Mapping[str, Sequence[str]] | None = None,
        examples: Sequence[str] = (),
        **kw: Any,
    ):
        super().__init__(*args, **kw)
        self.sections = dict(sections or {})
        self.examples = tuple(examples)
        self.help_all = click.Option(
            [HELP_ALL],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=show_all,
            help="Show this help in full.",
        )

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return [*super().get_params(ctx), self.help_all]

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        text = inspect.cleandoc(self.help or "")
        brief, _, more = text.partition("\f")
        text = f"{brief.rstrip()}\n\n{more.strip()}" if ctx.meta.get(FULL) and more else brief
        if text.strip():
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(text.strip())

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        full = bool(ctx.meta.get(FULL))
        for heading, options in self.grouped(ctx):
            rows = [record(option, ctx, full) for option in options]
            with formatter.section(heading):
                formatter.write_dl([row for row in rows if row is not None])

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """``--help-all``'s examples, as written (a command line is never wrapped), after the
        options."""
        if ctx.meta.get(FULL) and self.examples:
            with formatter.section("Examples"):
                for line in self.examples:
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")
        super().format_epilog(ctx, formatter)

    def grouped(self, ctx: click.Context) -> Iterator[tuple[str, list[click.Option]]]:
        """Each heading with its options, in the order ``sections`` gives; the help options end
        the first, and options no section names follow under "More options"."""
        options = [p for p in self.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]
        if not self.sections:
            yield FIRST, options
            return
        by_name = {option.name: option for option in options}
        helps = [option for option in options if HELP_FLAGS & set(option.opts)]
        for index, (heading, names) in enumerate(self.sections.items()):
            listed = [by_name[name] for name in names if name in by_name]
            yield heading, listed + helps if index == 0 else listed
        placed = {name for names in self.sections.values() for name in names}
        unplaced = [o for o in options if o.name not in placed and o not in helps]
        if unplaced:
            yield "More options", unplaced


def record(option: click.Option, ctx: click.Context, full: bool) -> tuple[str, str] | None:
    """``option``'s line of the help: its first sentence, or (``full``) its whole text."""
    if full or not option.help:
        return option.get_help_record(ctx)
    short = copy.copy(option)
    short.help = first_sentences(option.help)
    return short.get_help_record(ctx)
