"""The ``--ray`` option that ``embed``, ``code`` and ``themes`` share: run the per-text work on a Ray
cluster (:mod:`insight.cluster`). Ray is imported only when the option is given."""

from __future__ import annotations

import sys
from contextlib import contextmanager, redirect_stdout

import click

RAY_HELP = ("Run the per-text work on this Ray cluster: HOST:PORT of its head node, or 'auto' on a node of it "
            "(see README, Scaling out). Results go into the same caches and tables.")
STAGE_HELP = ("With --ray: a folder every node of the cluster can read and write, for the Parquet partitions "
              "(default: beside the database, which serves a cluster on this machine).")


def ray_options(command):
    """Add ``--ray ADDRESS`` and ``--stage DIR`` to a command."""
    command = click.option("--stage", type=click.Path(file_okay=False), metavar="DIR", help=STAGE_HELP)(command)
    return click.option("--ray", "ray_address", metavar="ADDRESS", help=RAY_HELP)(command)


@contextmanager
def open_cluster(ctx, address: str | None, stage: str | None):
    """The :class:`insight.cluster.Cluster` at ``address`` for this command's database (``None``
    without ``--ray``), closed on the way out. While it is open, Ray's own messages (a node lost, a
    task retried) go to stderr: stdout is the command's output, one JSON object with ``--json``."""
    if not address:
        yield None
        return
    from insight.cluster import Cluster

    with redirect_stdout(sys.stderr), Cluster(address, stage=stage, database=ctx.obj["db"]) as cluster:
        yield cluster


def with_cluster(result: dict, summary: dict) -> dict:
    """``result`` with the cluster's report: ``nodes`` (how many did work), ``rows_per_node`` and
    ``seconds`` at the top, every step under ``cluster``."""
    return {**result, "nodes": summary["nodes"], "rows_per_node": summary["rows_per_node"],
            "cluster_seconds": summary["seconds"], "cluster": summary}


def echo_cluster(summary: dict) -> None:
    """One line about what the cluster did."""
    rows = ", ".join(f"{node} {n:,}" for node, n in summary["rows_per_node"].items()) or "nothing to do"
    click.echo(f"Ray cluster {summary['address']}: {summary['nodes']} node(s) did work (rows per node: {rows}) "
               f"in {summary['seconds']:.1f} s.")
