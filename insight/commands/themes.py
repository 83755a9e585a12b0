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

    Prints the top-level themes (largest first), each with its size, share, name and a quote and
    the themes beneath it, then small talk (set aside) and the share of segments left unassigned.
    `insight themes map --out map.html` draws the map of the latest run; `insight themes rename`,
    `merge`, `split` and `pin` shape the themes, `edits` and `undo` show and take back changes.

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
                "themes": [{key: t[key] for key in ("id", "label", "keywords", "size", "share", "parent_id", "level",
                                                    "kind", "subtitle", "pinned", "named_by", "quotes")}
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
    _echo_themes(result, quotes)
    if by:
        _echo_by(result["by"], by)


def _echo_themes(result: dict, quotes: int) -> None:
    """The top-level themes, largest first, each group with its themes beneath; small talk last."""
    themes, groups = result["themes"], result["groups"]
    top = [t for t in groups + themes if t.get("parent_id") is None and t["kind"] != "small_talk"]
    top.sort(key=lambda t: (-t["size"], t["id"]))
    quiet = [t for t in themes if t["kind"] == "small_talk"]
    click.echo(f"Run {result['run_id']}: {len(top)} top-level themes ({sum(t['kind'] == 'theme' for t in themes)} "
               f"themes in all) in {result['segments']:,} segments; {result['unassigned']:,} unassigned "
               f"({100 * result['outlier_share']:.1f}%)" + (f"; {quiet[0]['size']:,} small talk." if quiet else "."))
    for t in top + quiet:
        pin = "  [pinned]" if t.get("pinned") else ""
        aside = "  (set aside)" if t["kind"] == "small_talk" else ""
        click.echo(f"\n{t['id']:>3}  {t['size']:>5}  {100 * t['size'] / max(result['segments'], 1):4.1f}%  "
                   f"{t['label']}{pin}{aside}")
        for quote in t["quotes"][:quotes]:
            click.echo(f"           “{_short(quote['text'])}”{_who(quote)}")
        for child in sorted((c for c in themes if c.get("parent_id") == t["id"]), key=lambda c: (-c["size"], c["id"])):
            pin = "  [pinned]" if child.get("pinned") else ""
            click.echo(f"      {child['id']:>3}  {child['size']:>5}  {child['label']}{pin}")


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


_run_option = click.option("--run", "run_id", type=int, help="Theme run (default: the latest; or write RUN:THEME).")
_study_option = click.option("--study", help="Study (default: the only study, else all).")
_actor_option = click.option("--actor", help="Who makes the change (default: your user name).")


def _done(result: dict, message: str, as_json: bool) -> None:
    if as_json:
        emit(result)
    else:
        click.echo(message + f" (run {result['run_id']}; undo: insight themes undo)")


@themes.command("rename")
@click.argument("theme", metavar="THEME")
@click.argument("name")
@_run_option
@_study_option
@_actor_option
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def themes_rename(ctx, theme, name, run_id, study, actor, as_json):
    """Name a theme (or a group). The name survives re-runs. THEME is a theme's number, or RUN:THEME."""
    with open_workspace(ctx) as ws:
        result = ws.rename_theme(theme, name, run_id=run_id, study=study, actor=actor)
    _done(result, f"Theme {result['theme_id']} is now “{result['label']}”.", as_json)


@themes.command("merge")
@click.argument("themes_", metavar="THEME THEME...", nargs=-1, required=True)
@click.option("--into", metavar="THEME", help="The theme the others join (default: the largest).")
@click.option("--name", help="Name of the merged theme (default: its own name, or a new one from its text).")
@_run_option
@_study_option
@_actor_option
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def themes_merge(ctx, themes_, into, name, run_id, study, actor, as_json):
    """Merge two or more themes into one. The merge survives re-runs."""
    with open_workspace(ctx) as ws:
        result = ws.merge_themes(list(themes_), into=into, name=name, run_id=run_id, study=study, actor=actor)
    merged = ", ".join(str(t) for t in result["merged"])
    _done(result, f"Merged {merged} into theme {result['theme_id']}: “{result['label']}”.", as_json)


@themes.command("split")
@click.argument("theme", metavar="THEME")
@click.option("--parts", type=click.IntRange(2, 10), default=2, show_default=True, help="How many themes to make.")
@_run_option
@_study_option
@_actor_option
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def themes_split(ctx, theme, parts, run_id, study, actor, as_json):
    """Split a theme into parts (k-means over its segments), each named from its own text."""
    with open_workspace(ctx) as ws:
        result = ws.split_theme(theme, parts, run_id=run_id, study=study, actor=actor)
    made = "; ".join(f"{t['id']}: “{t['label']}” ({t['size']})" for t in result["into"])
    _done(result, f"Split theme {result['theme_id']} into {made}.", as_json)


@themes.command("pin")
@click.argument("theme", metavar="THEME")
@click.option("--off", is_flag=True, help="Unpin instead.")
@_run_option
@_study_option
@_actor_option
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def themes_pin(ctx, theme, off, run_id, study, actor, as_json):
    """Pin a theme: re-runs keep its name and all of its segments together."""
    with open_workspace(ctx) as ws:
        result = ws.pin_theme(theme, not off, run_id=run_id, study=study, actor=actor)
    _done(result, f"Theme {result['theme_id']} is {'pinned' if result['pinned'] else 'no longer pinned'}.", as_json)


@themes.command("undo")
@_run_option
@_study_option
@_actor_option
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def themes_undo(ctx, run_id, study, actor, as_json):
    """Undo the latest theme edit of a run (rename, merge, split, pin or carry-over)."""
    with open_workspace(ctx) as ws:
        result = ws.undo_theme_edit(run_id=run_id, study=study, actor=actor)
    if as_json:
        emit(result)
    else:
        click.echo(f"Undid edit {result['undid']} ({result['action']} of theme {result['theme_id']}) in run "
                   f"{result['run_id']}.")


@themes.command("edits")
@_run_option
@_study_option
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def themes_edits(ctx, run_id, study, as_json):
    """The history of a run's theme edits: who renamed, merged, split, pinned or carried what, and when."""
    import json

    import pandas as pd

    with open_workspace(ctx, read_only=True) as ws:
        frame = ws.theme_edits(run_id, study=study)
    if as_json:
        emit({"edits": frame.to_dict("records")})
        return
    if frame.empty:
        click.echo("No theme edits in this run.")
    for row in frame.itertuples():
        undone = f"  (undone by edit {int(row.undone_by)})" if pd.notna(row.undone_by) else ""
        detail = json.loads(row.detail or "{}")
        what = ", ".join(f"{k}: {v}" for k, v in detail.items() if k not in ("labels",))
        click.echo(f"{row.edit_id:>4}  {row.changed_at:%Y-%m-%d %H:%M}  {row.actor:<12}  {row.action:<6}  "
                   f"theme {row.theme_id}  {what}{undone}")


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
