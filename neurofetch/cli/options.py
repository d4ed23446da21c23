"""Shared command behaviour: the program's global options accepted after a command's name too, an Examples
block at the end of every --help, plain metavars, and shell completion of profile and service names.

Imports only typer and stdlib, so `--help` stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import typer
import typer.core
from typer._click.core import Context, Parameter, ParameterSource
from typer._click.exceptions import UsageError as ClickUsageError
from typer._click.formatting import HelpFormatter
from typer.models import DefaultPlaceholder

GLOBAL_SECTION = "Global options (also accepted before the command)"


def global_params(ctx: Context) -> list[Parameter]:
    """The root command's options (minus --version, --help and completion): the program's global options."""
    root = ctx.find_root()
    if root is ctx:
        return []
    return [p for p in root.command.params
            if p.param_type_name == "option" and p.expose_value and not p.is_eager]


def _adopt(ctx: Context, values: dict[str, Any]) -> None:
    """Global options given after the command count as if given before it: the root's callback, the one
    place they are interpreted, runs again with them."""
    root = ctx.find_root()
    root.params.update(values)
    for name in values:
        root.set_parameter_source(name, ParameterSource.COMMANDLINE)
    assert root.command.callback is not None
    root.invoke(root.command.callback, **root.params)


def _write_examples(text: str | None, formatter: HelpFormatter) -> None:
    """gh/aws style: an Examples block, each line as written (never re-wrapped)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if lines:
        with formatter.section("Examples"):
            for line in lines:
                formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


def _plain_usage(pieces: Sequence[str]) -> list[str]:
    """`DEST`, not Typer's `{DEST}` for a required argument."""
    return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in pieces]


class Command(typer.core.TyperCommand):
    """Every neurofetch command: takes the global options anywhere, lists them in its --help, ends its
    --help with Examples (its epilog)."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        own = super().get_params(ctx)
        shared = [p for p in global_params(ctx) if p.name not in {q.name for q in self.params}]
        return [*own[:len(self.params)], *shared, *own[len(self.params):]]

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        original = list(args)   # the parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except ClickUsageError:
            self._adopt_leniently(ctx, original)   # e.g. --json after a bad option still gets its document
            raise

    def _adopt_leniently(self, ctx: Context, args: list[str]) -> None:
        probe = typer.core.TyperCommand(
            None, params=global_params(ctx), add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
        try:
            probe_ctx = probe.make_context(ctx.info_name, list(args), parent=ctx.parent)
            given = {name: value for name, value in probe_ctx.params.items()
                     if probe_ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
            if given:
                _adopt(ctx, given)
        except Exception:   # the original usage error is the one to report
            pass

    def invoke(self, ctx: Context) -> Any:
        own = {p.name for p in self.params}
        given = {}
        for param in global_params(ctx):
            if param.name in own or param.name not in ctx.params:
                continue
            value = ctx.params.pop(param.name)
            if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
                given[param.name] = value
        if given:
            _adopt(ctx, given)
        return super().invoke(ctx)

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        shared = {p.name for p in global_params(ctx)} - {p.name for p in self.params}
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        globals_: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
            else:
                (globals_ if param.name in shared else options).append(record)
        for title, records in (("Arguments", arguments), ("Options", options), (GLOBAL_SECTION, globals_)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return _plain_usage(super().collect_usage_pieces(ctx))

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        _write_examples(self.epilog, formatter)


class Group(typer.core.TyperGroup):
    """A command group whose --help ends with Examples (its epilog)."""

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        _write_examples(self.epilog, formatter)


def use_shared_command_class(app: typer.Typer) -> None:
    """Give every command of ``app`` (and of its sub-apps) the shared behaviour above."""
    for info in app.registered_commands:
        if info.cls in (None, typer.core.TyperCommand) or isinstance(info.cls, DefaultPlaceholder):
            info.cls = Command
        elif not issubclass(info.cls, Command):
            raise TypeError(f"{info.name}: its command class must derive from neurofetch.cli.options.Command")
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_shared_command_class(group.typer_instance)


# -- shell completion -------------------------------------------------------------------------------------------
def _config_path(ctx: Context) -> str | None:
    """--config as typed, after the command or before it. (While completing, Click records no parameter
    sources, and every level reads NEUROFETCH_CONFIG: a value that differs from it was typed.)"""
    import os

    from_env = os.environ.get("NEUROFETCH_CONFIG")
    here: Context | None = ctx
    while here is not None:
        value = here.params.get("config")
        if value and value != from_env:
            return str(value)
        here = here.parent
    return from_env


def complete_profile(ctx: typer.Context, incomplete: str) -> list[str]:
    """Profile names of the config file (the one --config names, if it was typed before)."""
    try:
        from neurofetch.settings import GlobalOptions, config_path, load_config

        config = load_config(config_path(GlobalOptions(config=_config_path(ctx))))
        return [str(name) for name in config.get("profiles") or {} if str(name).startswith(incomplete)]
    except Exception:   # completion never shows a traceback
        return []


def complete_service(incomplete: str) -> list[str]:
    from neurofetch.settings import SERVICES

    return [name for name in SERVICES if name.startswith(incomplete)]
