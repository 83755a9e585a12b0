"""``insight export``: coded datasets, reports and REFI-QDA files."""

from __future__ import annotations

import click

from insight.commands._common import JSON_HELP, emit, open_workspace
from insight.statuses import ACCEPTED, REJECTED, SUGGESTED


@click.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "xlsx", "report", "framework", "cooccurrence",
                                                    "crosstab", "qdpx", "qdc", "embeddings"]),
              help="What to write (default: from the --out suffix). csv/parquet/xlsx: the coded dataset; report: "
                   "quotes per code or theme; framework: participants x codes with quotes (XLSX); cooccurrence: "
                   "codes x codes; crosstab: codes by an attribute; qdpx/qdc: REFI-QDA project/codebook; "
                   "embeddings: segment id, text, model and vector per embedded segment (Parquet).")
@click.option("--out", required=True, type=click.Path(), metavar="PATH",
              help="The file to write, or a folder to write it in under its default name "
                   "(<study>_coded_long.csv, <study>_coded_wide.parquet, <study>_quotes_by_code.md ...).")
@click.option("--study", help="The study to export (default: the only one).")
@click.option("--coder", "coders", multiple=True, metavar="C",
              help="Only this coder's codings (repeatable; default: every coder).")
@click.option("--codebook", metavar="NAME[@V]",
              help="Only codes of this codebook version, in its order (default: every code; the study's main "
                   "codebook describes them).")
@click.option("--shape", type=click.Choice(["long", "wide"]), default="long", show_default=True,
              help="Dataset shape: one row per coding (long) or one row per segment with a 0/1 column per code (wide).")
@click.option("--status", "statuses", multiple=True, type=click.Choice([ACCEPTED, SUGGESTED, REJECTED]),
              help="Coding statuses that count (repeatable; default: accepted, i.e. what the team decided: human "
                   "codings and accepted suggestions).")
@click.option("--include-suggestions", is_flag=True,
              help="Coded dataset: add the auto-coders' open suggestions, marked as such (status suggested and "
                   "decided no; wide: their own <code>_suggested columns).")
@click.option("--by", metavar="ATTRIBUTE", help="crosstab: the participant attribute whose values are the columns.")
@click.option("--unit", type=click.Choice(["participants", "segments"]), default="participants", show_default=True,
              help="crosstab: count participants with the code, or coded segments.")
@click.option("--per", type=click.Choice(["code", "theme"]), default="code", show_default=True,
              help="report: one section per code, or per theme of the latest theme run.")
@click.option("--report-format", type=click.Choice(["md", "html", "docx"]),
              help="report: Markdown, HTML or Word (default: from the --out suffix, else md).")
@click.option("--max-quotes", type=click.IntRange(min=0), metavar="N",
              help="report/framework: quotes per section or cell (default 50 and 10; 0 for all).")
@click.option("--model", help="embeddings: the model whose vectors to write (default: the configured one).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def export(ctx, fmt, out, study, coders, codebook, shape, statuses, include_suggestions, by, unit, per, report_format,
           max_quotes, model, as_json):
    """Write a coded dataset, a report or a REFI-QDA file for one study.

    \b
    insight export --out coded.csv                       one row per decided coding
    insight export --out coded.csv --include-suggestions and the open suggestions, marked
    insight export --out exports/ --shape wide           exports/<study>_coded_wide.csv
    insight export --out matrix.parquet --shape wide     0/1 column per code
    insight export --format report --out quotes.docx --per theme
    insight export --format crosstab --by ward --out ward.xlsx
    insight export --out project.qdpx                    for NVivo, ATLAS.ti, MAXQDA, QualCoder
    insight export --format embeddings --out vectors.parquet

    CSV and XLSX cells that a spreadsheet would run as a formula are prefixed with '. A CSV is
    UTF-8 with a byte-order mark so that Excel opens it as UTF-8: pandas.read_csv(path) and
    readr::read_csv(path) read it as it is; in R without a UTF-8 locale use
    read.csv(path, fileEncoding = "UTF-8-BOM"), in Python's csv module encoding="utf-8-sig".
    """
    with open_workspace(ctx, read_only=True) as ws:
        summary = ws.export(out, format=fmt, study=study, coders=list(coders) or None, codebook=codebook,
                            shape=shape, statuses=list(statuses) or None, include_suggestions=include_suggestions,
                            by=by, unit=unit, per=per, report_format=report_format, max_quotes=max_quotes,
                            model=model)
    if as_json:
        emit(summary)
        return
    what = summary["format"] + (f" ({summary['shape']})" if summary.get("shape") else "")
    counts = ", ".join(f"{summary[k]:,} {k}" for k in ("rows", "sections", "quotes", "participants", "codes",
                                                        "sources", "codings", "cases", "notes")
                       if isinstance(summary.get(k), int))
    click.echo(f"Wrote {summary['out']}: {what}" + (f", {counts}" if counts else "") + ".")


COMMANDS = [export]
