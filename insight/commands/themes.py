"""Commands for theme discovery, theme maps and charts, and the gap finder."""

from __future__ import annotations

import click

from insight.commands._common import INTERVIEWER_HELP, JSON_HELP, emit, open_workspace
from insight.commands._ray import echo_cluster, open_cluster, ray_options, with_cluster


def _progress(quiet: bool):
    """Stage messages on stderr (BERTopic, UMAP and HDBSCAN run as one step each)."""
    import time

    started = time.time()

    def say(step, steps, message):
        if not quiet:
            click.echo(f"[{time.time() - started:5.1f}s] {step}/{steps} {message}", err=True)

    return say


def _short(text: str, width: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + " …"


def _who(quote: dict) -> str:
    who = quote.get("participant") or quote.get("speaker")
    parts = [p for p in (who, quote.get("document")) if p]
    parts = [p for i, p in enumerate(parts) if p not in parts[:i]]
    return f" ({', '.join(parts)})" if parts else ""


@click.group(invoke_without_command=True)
@click.option("--study", help="Study to find themes in (default: the only study, else all).")
@click.option("--min-size", type=click.IntRange(2, None), metavar="N",
              help="Smallest theme, in segments (default: sqrt(segments) / 2.5, within 5..60).")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed: same seed, same data, same themes.")
@click.option("--by", "by", metavar="ATTRIBUTE", help="Also show themes by a participant attribute (ward, age_band, ...).")
@click.option("--model", help="Embedding model name or path (default: the packaged all-MiniLM-L6-v2).")
@click.option("--include-interviewer", is_flag=True, help=INTERVIEWER_HELP)
@click.option("--quotes", type=click.IntRange(0, 3), default=1, show_default=True, help="Quotes to print per theme.")
@ray_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def themes(ctx, study, min_size, seed, by, model, include_interviewer, quotes, ray_address, stage, as_json):
    """Discover themes: BERTopic over the cached segment embeddings, stored as a new run.

    Prints each theme's id, size, share, label and a quote, and the share of segments left
    unassigned. `insight themes map --out map.html` draws the map of the latest run.

    Above 20,000 segments the themes are fitted on a seeded random sample of 20,000 and the other
    segments join the theme with the nearest centroid; with --ray, new segments are embedded and
    the others placed on the cluster.
    """
    if ctx.invoked_subcommand is not None:
        return
    with open_workspace(ctx) as ws, open_cluster(ctx, ray_address, stage) as cluster:
        if cluster:
            cluster.embed(ws.con, ws.study_id(study, default="only"), model)
        result = ws.run_themes(study=study, min_size=min_size, seed=seed, by=by, model=model,
                               include_interviewer=include_interviewer, progress=_progress(False),
                               outside=cluster.placer(ws.con) if cluster else None)
        if cluster:
            result = with_cluster(result, cluster.summary())
    if as_json:
        data = {"run_id": result["run_id"], "segments": result["segments"], "outlier_share": result["outlier_share"],
                "unassigned": result["unassigned"],
                "themes": [{key: t[key] for key in ("id", "label", "keywords", "size", "share", "parent_id", "quotes")}
                           for t in result["themes"]],
                "groups": [{key: t[key] for key in ("id", "label", "keywords", "size")} for t in result["groups"]],
                "settings": result["settings"]}
        if by:
            data["by"] = result["by"]
        if cluster:
            data = with_cluster(data, result["cluster"])
        emit(data)
        return
    if cluster:
        echo_cluster(result["cluster"])
    click.echo(f"Run {result['run_id']}: {len(result['themes'])} themes in {result['segments']:,} segments; "
               f"{result['unassigned']:,} unassigned ({100 * result['outlier_share']:.1f}%).")
    groups = {g["id"]: g["label"] for g in result["groups"]}
    for t in result["themes"]:
        group = f"  [in {t['parent_id']}: {groups[t['parent_id']]}]" if t.get("parent_id") in groups else ""
        click.echo(f"\n{t['id']:>3}  {t['size']:>5}  {100 * t['share']:4.1f}%  {t['label']}{group}")
        for quote in t["quotes"][:quotes]:
            click.echo(f"           “{_short(quote['text'])}”{_who(quote)}")
    if by:
        _echo_by(result["by"], by)


def _echo_by(rows: list[dict], attribute: str) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    table = frame.pivot(index="theme_id", columns=attribute, values="pct_of_group").fillna(0.0).round(1)
    click.echo(f"\nThemes by {attribute}: % of each group's segments (columns sum to 100)")
    click.echo(table.to_string())


@themes.command("map")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="File to write: .html (interactive, works offline) or .png (or .svg, .pdf).")
@click.option("--chart", type=click.Choice(["map", "by", "codes", "time"]), default="map", show_default=True,
              help="map: segments on a 2-D map; by: themes by --by ATTRIBUTE; codes: code co-occurrence; "
                   "time: themes over time.")
@click.option("--colour-by", "--color-by", "colour_by", default="theme", show_default=True, metavar="theme|CODE",
              help="Colour the map by theme, or highlight the segments coded with CODE.")
@click.option("--coder", help="With a code: only this coder's codings (default: any coder).")
@click.option("--by", "by", metavar="ATTRIBUTE", help="For --chart by: the participant attribute.")
@click.option("--freq", type=click.Choice(["D", "W", "M", "Q", "Y"]), default="W", show_default=True,
              help="For --chart time: the period.")
@click.option("--run", "run_id", type=int, help="Theme run to draw (default: the latest).")
@click.option("--study", help="Study (default: the only study, else all).")
@click.pass_context
def themes_map(ctx, out, chart, colour_by, coder, by, freq, run_id, study):
    """Draw the theme map (or another chart) of a theme run as HTML or PNG."""
    from pathlib import Path

    if chart == "by" and not by:
        raise click.UsageError("--chart by needs --by ATTRIBUTE.")
    with open_workspace(ctx, read_only=True) as ws:
        ws.theme_chart(chart, out, run_id=run_id, colour_by=colour_by, coder=coder, by=by, freq=freq, study=study)
    click.echo(f"Wrote {Path(out)}.")


@click.group(invoke_without_command=True)
@click.option("--study", help="Study to look in (default: the only study, else all).")
@click.option("--coder", "coders", multiple=True, metavar="NAME",
              help="A segment is covered when this coder coded it (repeatable; default: any coder).")
@click.option("--min-size", type=click.IntRange(2, None), metavar="N", help="Smallest candidate, in segments.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed (same seed, same candidates).")
@click.option("--model", help="Embedding model name or path (default: the packaged all-MiniLM-L6-v2).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def gaps(ctx, study, coders, min_size, seed, model, as_json):
    """Find gaps in the codebook: cluster segments no code covers into candidate new codes.

    Then add one to a codebook: insight gaps add ID --codebook NAME
    """
    if ctx.invoked_subcommand is not None:
        return
    with open_workspace(ctx) as ws:
        result = ws.run_gaps(study=study, coders=list(coders) or None, min_size=min_size, seed=seed, model=model,
                         progress=None if as_json else _progress(False))
    if as_json:
        emit(result)
        return
    cands = result["candidates"]
    click.echo(f"Gaps run {result['run_id']}: {result['uncovered']:,} of {result['segments']:,} segments have no code"
               + (f" from {', '.join(coders)}" if coders else "") + f"; {len(cands)} candidate codes.")
    for c in cands:
        click.echo(f"\n{c['id']:>3}  {c['size']:>4} segments  {c['label']}")
        click.echo(f"     keywords: {', '.join(c['keywords'][:8])}")
        for quote in c["quotes"][:2]:
            click.echo(f"     “{_short(quote['text'])}”{_who(quote)}")
    if cands:
        click.echo(f"\nAdd one: insight gaps add {cands[0]['id']} --codebook NAME")


@gaps.command("add")
@click.argument("candidate", metavar="ID")
@click.option("--codebook", "codebook_name", required=True, help="Codebook to add the code to (a new version).")
@click.option("--name", help="Name of the new code (default: from its keywords).")
@click.option("--author", help="Who made this version (default: your user name).")
@click.option("--study", help="Study of the gaps run (default: the only study, else all).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def gaps_add(ctx, candidate, codebook_name, name, author, study, as_json):
    """Add candidate ID of the latest gaps run (or RUN:ID) as a new code, in a new codebook version.

    The code gets a drafted definition, keywords and example quotes to edit.
    """
    with open_workspace(ctx) as ws:
        result = ws.add_gap_as_code(candidate, codebook_name, name=name, author=author, study=study)
    if as_json:
        emit(result)
        return
    click.echo(f"Added {result['code']!r} to {result['codebook']} as version {result['version']}. "
               f"Edit its definition: insight codebook export {result['codebook']} --out FILE.yaml")


COMMANDS = [themes, gaps]
