"""What the ``insight`` command and every module in ``insight.commands`` share: the group that
turns library errors into one line, the workspace opener and the JSON printer.

It sits below :mod:`insight.cli`, so command modules never import the CLI that loads them.
"""

from __future__ import annotations

import json

import click

from insight.errors import InsightError

JSON_HELP = "Print one JSON object on stdout instead of text."
INTERVIEWER_HELP = ("Keep the interviewer's turns in (Interviewer:, Moderator:, Q: ... with no participant behind "
                    "them; they are left out by default).")


class InsightGroup(click.Group):
    """Turns library errors into one line and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InsightError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


def open_workspace(ctx, read_only: bool = False):
    """The :class:`insight.Workspace` of the ``--db`` the command was given."""
    from insight.workspace import Workspace

    return Workspace(ctx.obj["db"], read_only=read_only)


def emit(data: dict) -> None:
    """Print ``data`` as one JSON object on stdout."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
