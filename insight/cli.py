"""The ``insight`` command: a thin shell over :class:`insight.Workspace`.

Each command parses its input, makes one library call and prints the result (``--json``: one JSON
object on stdout). Errors are one clean line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import click

from insight.commands._common import JSON_HELP, InsightGroup, emit, open_workspace


@click.group(cls=InsightGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="INSIGHT_DB", default="insight.duckdb", show_default=True, metavar="PATH",
              help="The workspace database file (or set INSIGHT_DB).")
@click.version_option(package_name="insight")
@click.pass_context
def main(ctx, db):
    """Insight: a local-first workbench for qualitative research.

    Ingest transcripts, diaries, field notes and panel surveys; code them against a codebook;
    measure agreement; discover themes; export coded datasets. Everything stays on this machine.
    """
    ctx.ensure_object(dict)
    ctx.obj["db"] = db


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--study", help="Study to add to (default: the only study, else 'default').")
@click.option("--kind", type=click.Choice(["interview", "diary", "panel", "fieldnotes"]),
              help="What the documents are (default: guessed per file).")
@click.option("--text-col", "text_cols", multiple=True, metavar="C", help="CSV/XLSX: an open-ended text column (repeatable).")
@click.option("--id-col", metavar="C", help="CSV/XLSX: the respondent id column.")
@click.option("--participant-col", metavar="C", help="CSV/XLSX/JSON: the participant column (diaries).")
@click.option("--speaker-col", metavar="C", help="CSV/XLSX transcript: the speaker column (one row per turn).")
@click.option("--time-col", metavar="C", help="CSV/XLSX transcript: the time column (hh:mm:ss or seconds).")
@click.option("--date-col", metavar="C", help="CSV/XLSX/JSON: the date column (diaries, response dates).")
@click.option("--participant", metavar="ID",
              help="The participant these files are about: their one speaker besides the interviewer (when labelled "
                   "Resident, Speaker 1...), or who wrote them.")
@click.option("--attr-col", "attr_cols", multiple=True, metavar="C", help="A participant attribute column (repeatable).")
@click.option("--code-col", "code_cols", multiple=True, metavar="C[=TEXT]",
              help="A column of codes for a text column (repeatable; 'codes_q2=q2' to say which).")
@click.option("--code-sep", multiple=True, default=(";",), show_default=True,
              help="Separator between codes in a code column (repeatable, when a column mixes separators).")
@click.option("--coder", metavar="NAME", help="Who made the codings in --code-col columns.")
@click.option("--blank-means-no-code", is_flag=True,
              help="With --code-col: a row with no code was coded by --coder and no code applies. Default: a row "
                   "with no code in any code column is one the coder did not code (a sub-sample), left out of "
                   "agreement.")
@click.option("--sheet", metavar="NAME", help="XLSX: the sheet to read (default: the first).")
@click.option("--unit", type=click.Choice(["turn", "paragraph", "sentence"]), default="turn", show_default=True,
              help="Segment unit: whole speaker turns, paragraphs, or sentences.")
@click.option("--pseudonymise", is_flag=True,
              help="Replace names, emails, phones, postcodes, addresses, dates of birth and NHS numbers as files go "
                   "in (review them with `insight pseudonyms`).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def ingest(ctx, paths, study, as_json, **options):
    """Read files or folders (recursively) into a study.

    Formats: .txt .md (transcripts and field notes), .docx (Word comments become codings),
    .vtt .srt (captions), .pdf (text layer), .csv .xlsx (survey/panel, transcript or diary tables),
    .json (diary entries). A folder's ingest.yaml can set these options per file.
    Each file goes in whole or not at all; bad files are reported and the rest go in.
    """
    from tqdm import tqdm

    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    bar = tqdm(total=0, unit="file", file=sys.stderr, disable=None, leave=False)

    def progress(number, total, path):
        bar.total = total
        bar.set_postfix_str(path[-40:])
        bar.update(1)

    with open_workspace(ctx) as ws:
        report = ws.ingest(list(paths), study=study, progress=progress, **options)
    bar.close()
    data = report.to_dict()
    if as_json:
        emit(data)
    else:
        _print_ingest(report)
    if report.failed:
        ctx.exit(1)


def _print_ingest(report) -> None:
    for f in report.files:
        for warning in f.warnings:
            click.echo(f"  note: {warning}", err=True)
        if f.status == "changed":
            click.echo(f"  changed: {f.path}: {f.reason}")
        elif f.status == "attached":
            click.echo(f"  attached: {f.path}: {f.reason or f'{f.codings} codings added to existing segments'}")
    counts = report.to_dict()["by_status"]
    totals = report.totals()
    new = counts.get("added", 0) + counts.get("changed", 0) + counts.get("attached", 0)
    click.echo(
        f"Study {report.study!r}: {new} file(s) ingested: {totals['documents']} documents, "
        f"{totals['segments']} segments, {totals['participants']} new participants, {totals['codings']} codings."
    )
    if counts.get("unchanged"):
        click.echo(f"{counts['unchanged']} file(s) unchanged since the last ingest: nothing added for them.")
    unknown = report.unknown_codes()
    if unknown:
        from insight.codebook_model import unknown_codes_note

        for line in unknown_codes_note(unknown, report.study):
            click.echo(line)
    if report.failed:
        click.echo(f"{len(report.failed)} file(s) failed and were not imported:", err=True)
        for f in report.failed:
            click.echo(f"  - {f.reason}", err=True)


@main.command()
@click.option("--study", help="One study (default: all).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def stats(ctx, study, as_json):
    """Counts: studies, documents, segments, participants, speakers, codes and codings by coder."""
    with open_workspace(ctx, read_only=True) as ws:
        data = ws.stats(study)
    if as_json:
        emit(data)
        return
    click.echo(f"studies       {data['studies']}")
    kinds = ", ".join(f"{k} {v}" for k, v in data["documents_by_kind"].items())
    click.echo(f"documents     {data['documents']}" + (f" ({kinds})" if kinds else ""))
    for key in ("segments", "words", "participants", "speakers", "codes"):
        click.echo(f"{key:<13} {data[key]}")
    click.echo("codings       " + (", ".join(f"{c} {n}" for c, n in data["codings"].items()) or "0"))


@main.command()
@click.option("--port", default=8501, show_default=True, help="Port to serve the app on.")
@click.option("--host", default="localhost", show_default=True,
              help="Address to listen on. Anything but localhost needs a password (insight password).")
@click.pass_context
def app(ctx, port, host):
    """Start the Streamlit workbench on this machine (http://localhost:8501)."""
    from insight.serve import serve

    serve(ctx.obj["db"], host=host, port=port)


def _register_commands() -> None:
    """Each module in ``insight.commands`` lists its commands in ``COMMANDS``; they join ``main``."""
    import importlib
    import pkgutil

    import insight.commands as package

    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            for command in importlib.import_module(f"insight.commands.{module.name}").COMMANDS:
                main.add_command(command)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
