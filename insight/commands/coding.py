"""Commands for codebooks, embeddings, auto-coding, codebook tests, agreement and the coding history."""

from __future__ import annotations

import sys

import click

from insight.commands._common import INTERVIEWER_HELP, JSON_HELP, emit, open_workspace
from insight.commands._ray import echo_cluster, open_cluster, ray_options, with_cluster


@click.group()
def codebook():
    """Load, list, show, export and compare codebook versions; fold typos that came with the data."""


_SHEET_COLUMNS = (("name", "--name-col", "Spreadsheet: the column of code names (guessed from tag, code, name ...)."),
                  ("definition", "--definition-col", "Spreadsheet: the definitions (guessed: definition, "
                                                     "description)."),
                  ("parent", "--parent-col", "Spreadsheet: the parent code's name ('-' for no such column)."),
                  ("include", "--include-col", "Spreadsheet: inclusion criteria."),
                  ("exclude", "--exclude-col", "Spreadsheet: exclusion criteria."),
                  ("examples", "--example-col", "Spreadsheet: examples, one per line or separated by ';' "
                                                "(repeatable: Example 1, Example 2)."),
                  ("counter_examples", "--counter-example-col", "Spreadsheet: counter-examples (repeatable)."),
                  ("keywords", "--keywords-col", "Spreadsheet: keywords, separated by ',' or ';' (repeatable)."),
                  ("colour", "--colour-col", "Spreadsheet: a hex colour per code."))


def _sheet_options(command):
    for role, flag, text in reversed(_SHEET_COLUMNS):
        command = click.option(flag, role + "_col", multiple=role in ("examples", "counter_examples", "keywords"),
                               metavar="HEADER", help=text)(command)
    return command


@codebook.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--author", help="Who made this version (default: your user name).")
@click.option("--note", help="A note for this version, like a commit message.")
@click.option("--study", help="Tie the codebook to a study.")
@click.option("--codebook", "name", metavar="NAME",
              help="Store it as this codebook (default: the name in the file; a spreadsheet's file name).")
@click.option("--sheet", help="Spreadsheet: the worksheet of an .xlsx (default: the first).")
@_sheet_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def codebook_load(ctx, file, author, note, study, name, sheet, as_json, **cols):
    """Load a codebook: YAML, REFI-QDA .qdc, or a spreadsheet (.csv/.xlsx, one row per code, as Taguette
    exports it or a team keeps it); a changed file becomes a new version.

    A spreadsheet's columns are guessed from its headers unless named (--name-col ...), and the guess is
    printed. A parent column names each code's parent; a parent named but not defined is added as a code.
    """
    columns = {}
    for key, value in cols.items():
        values = list(value) if isinstance(value, tuple) else [value] if value else []
        if values:
            columns[key.removesuffix("_col")] = None if "-" in values else values if isinstance(value, tuple) else value
    with open_workspace(ctx) as ws:
        result = ws.load_codebook(file, author=author, note=note, study=study, name=name, sheet=sheet,
                                  columns=columns or None)
    if as_json:
        emit(result)
        return
    if "sheet" in result:
        click.echo(result["sheet"]["columns_line"])
        for line in result["sheet"]["notes"]:
            click.echo(f"  {line}")
    if result["created"]:
        click.echo(f"Loaded {result['codebook']} version {result['version']} ({result['codes']} codes).")
        for pair in result["renamed"]:
            click.echo(f"  renamed {pair['from']!r} to {pair['to']!r}: its {pair['codings']} coding(s) moved with it "
                       "(insight undo moves them back)")
    else:
        click.echo(f"{result['codebook']} is unchanged: still version {result['version']}.")


@codebook.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def codebook_list(ctx, as_json):
    """List codebooks with their latest version."""
    with open_workspace(ctx, read_only=True) as ws:
        frame = ws.codebooks()
    if as_json:
        emit({"codebooks": frame.to_dict("records")})
        return
    if frame.empty:
        click.echo("No codebooks yet. Load one: insight codebook load codebooks/lived_experience.yaml")
    for row in frame.itertuples():
        click.echo(f"{row.name}@{row.version}  {row.codes} codes  {row.author or ''}  {row.created_at:%Y-%m-%d %H:%M}"
                   + (f"  {row.note}" if isinstance(row.note, str) and row.note else ""))


@codebook.command("show")
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def codebook_show(ctx, ref, as_json):
    """Show a codebook version as YAML (REF is NAME or NAME@VERSION)."""
    with open_workspace(ctx, read_only=True) as ws:
        book = ws.codebook(ref)
    if as_json:
        emit({"codebook": book.name, "version": book.version, **book.to_dict()})
    else:
        click.echo(f"# {book.name} version {book.version}")
        click.echo(book.to_yaml())


@codebook.command("export")
@click.argument("ref", required=False)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write (.yaml, or .qdc).")
@click.pass_context
def codebook_export(ctx, ref, out):
    """Write a codebook version to a YAML file (or REFI-QDA .qdc)."""
    from pathlib import Path

    with open_workspace(ctx, read_only=True) as ws:
        book = ws.codebook(ref)
        if out.lower().endswith(".qdc"):
            from insight.refi import export_qdc

            export_qdc(book, Path(out))
        else:
            Path(out).write_text(book.to_yaml(), encoding="utf-8")
    click.echo(f"Wrote {book.name}@{book.version} to {out}.")


@codebook.command("diff")
@click.argument("ref_a")
@click.argument("ref_b")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def codebook_diff(ctx, ref_a, ref_b, as_json):
    """What changed between two versions: codes added, removed, renamed, fields changed."""
    with open_workspace(ctx, read_only=True) as ws:
        result = ws.diff_codebooks(ref_a, ref_b)
    if as_json:
        emit(result)
        return
    click.echo(f"{result['from']} -> {result['to']}")
    for name in result["added"]:
        click.echo(f"  + added    {name}")
    for name in result["removed"]:
        click.echo(f"  - removed  {name}")
    for pair in result["renamed"]:
        click.echo(f"  ~ renamed  {pair['from']} -> {pair['to']}")
    for name, fields in result["changed"].items():
        for field, change in fields.items():
            click.echo(f"  * changed  {name}: {field}")
            click.echo(f"      - {change['from']}")
            click.echo(f"      + {change['to']}")
    if not any((result["added"], result["removed"], result["renamed"], result["changed"])):
        click.echo("  no changes to codes")


@codebook.command("fold")
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--all", "fold_all", is_flag=True, help="Fold every likely typo into the code it suggests.")
@click.option("--study", help="The study whose codes to check (default: the only one, else all).")
@click.option("--codebook", "codebook_ref", metavar="NAME", help="The codebook to fold into (default: the study's).")
@click.option("--author", help="Who made the change (default: your user name).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def codebook_fold(ctx, old, new, fold_all, study, codebook_ref, author, as_json):
    """Fold codes that came with the data but are not in the codebook (typos such as 'beween') into
    the codebook's codes.

    With no names, lists them with the nearest codebook names. OLD NEW folds one: every coding of OLD
    becomes one of NEW (insight undo moves them back). --all folds each likely typo into the code
    it suggests.
    """
    if bool(old) != bool(new) or (old and fold_all):
        raise click.UsageError("Give OLD and NEW to fold one code, --all for every likely typo, or neither to list.")
    with open_workspace(ctx, read_only=not (old or fold_all)) as ws:
        found = ws.unknown_codes(study=study, codebook=codebook_ref)
        pairs = [(old, new)] if old else [(u["code"], u["suggested"]) for u in found["codes"] if u["suggested"]]
        folded = [ws.fold_code(a, b, codebook=found["codebook"], author=author) for a, b in pairs] \
            if (old or fold_all) else []
    if as_json:
        emit({**found, "folded": folded} if (old or fold_all) else found)
        return
    if old or fold_all:
        for f in folded:
            dupes = f" ({f['merged_duplicates']} already coded with {f['to']!r} too, kept once)" \
                if f["merged_duplicates"] else ""
            click.echo(f"Folded {f['from']!r} into {f['to']!r} of {f['codebook']}: {f['codings']} coding(s){dupes}.")
        if not folded:
            click.echo("No code looks like a typo of a codebook code; nothing folded.")
        else:
            click.echo("insight undo reverses the last fold.")
        return
    codes = found["codes"]
    where = f" of study {found['study']!r}" if found["study"] else ""
    if not codes:
        click.echo(f"Every code of the codings{where} is in codebook {found['codebook']}.")
        return
    click.echo(f"{len(codes)} code(s) of the codings{where} are not in codebook {found['codebook']}:")
    width = min(30, max(len(repr(u["code"])) for u in codes))
    for u in codes:
        near = ("nearest: " + ", ".join(map(repr, u["nearest"]))) if u["nearest"] else "no close name"
        fold = f"  -> insight codebook fold {u['code']!r} {u['suggested']!r}" if u["suggested"] else ""
        click.echo(f"  {u['code']!r:<{width}} {u['codings']:>5} coding(s)  {near}{fold}")
    if any(u["suggested"] for u in codes):
        click.echo("Fold every likely typo (->) with: insight codebook fold --all")


def _bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit="text", file=sys.stderr, disable=None, leave=False)

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress


@click.command()
@click.option("--study", help="Only this study (default: all).")
@click.option("--model", help="A sentence-transformers model name or path (default: all-MiniLM-L6-v2, packaged).")
@ray_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def embed(ctx, study, model, ray_address, stage, as_json):
    """Embed segments with sentence-transformers, cached: no text is embedded twice."""
    bar, progress = _bar("embedding")
    with open_workspace(ctx) as ws, open_cluster(ctx, ray_address, stage) as cluster:
        if cluster:
            result = with_cluster(cluster.embed(ws.con, ws.study_id(study), model), cluster.summary())
        else:
            result = ws.embed(study=study, model=model, progress=progress)
    bar.close()
    if as_json:
        emit(result)
    else:
        if ray_address:
            echo_cluster(result["cluster"])
        click.echo(f"{result['embedded']} texts embedded with {result['model']}; {result['cached']} were cached "
                   f"({result['segments']} segments, {result['unique_texts']} distinct texts).")
        info = result.get("embedder") or {}
        if info.get("mean_cosine") is not None:
            click.echo(f"Embedder: {info['backend']}, checked against PyTorch on this CPU ({info['cpu']}): mean cosine "
                       f"{info['mean_cosine']:.4f}, same nearest neighbour for {info['neighbours']:.1%} of "
                       f"{info['probes']} real texts (bar: 0.995 and 90%).")
        elif info:
            click.echo(f"Embedder: {info.get('backend')}.")


def _say(message):
    click.echo(f"... {message}", err=True)


@click.command()
@click.option("--study", help="Study to code (default: all).")
@click.option("--codebook", "codebook_ref", metavar="NAME[@V]", help="Codebook version (default: the latest loaded).")
@click.option("--methods", default="rules,semantic", show_default=True,
              help="Comma-separated auto-coders: rules, semantic, classifier.")
@click.option("--train-coder", metavar="NAME", help="Train the classifier on (and calibrate against) this coder's codings.")
@click.option("--model", help="Embedding model name or path (default: the packaged all-MiniLM-L6-v2).")
@click.option("--include-interviewer", is_flag=True, help=INTERVIEWER_HELP)
@ray_options
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def code(ctx, study, codebook_ref, methods, train_coder, model, include_interviewer, ray_address, stage, as_json):
    """Auto-code segments: suggestions with scores and explanations; human codings are never changed.

    With --ray, the segments' vectors and lemmas are made on the cluster first (what takes the
    time); the scorers then read them from the caches, as without it.
    """
    with open_workspace(ctx) as ws, open_cluster(ctx, ray_address, stage) as cluster:
        if cluster:
            if {"semantic", "classifier"} & set(methods.split(",")):
                cluster.embed(ws.con, ws.study_id(study), model)
            if "rules" in methods.split(","):
                cluster.lemmas(ws.con, ws.study_id(study))
        result = ws.run_autocoders(study=study, codebook=codebook_ref, methods=methods.split(","),
                                   train_coder=train_coder, model=model, progress=None if as_json else _say,
                                   include_interviewer=include_interviewer)
        if cluster:
            result = with_cluster(result, cluster.summary())
    if as_json:
        emit(result)
        return
    if cluster:
        echo_cluster(result["cluster"])
    left_out = result["interviewer_units_left_out"]
    click.echo(f"Coded {result['units']} segments with {result['codebook']}"
               + (f" ({left_out} interviewer turns left out; --include-interviewer codes them)" if left_out else "")
               + ":")
    for coder, count in result["suggestions"].items():
        click.echo(f"  {coder:<18} {count} suggestions")
    for code_name, reason in result["skipped"].items():
        click.echo(f"  classifier skipped {code_name!r}: {reason}")
    click.echo("Review them in the app (Code page) or accept/reject with the library.")


@click.command("test-codebook")
@click.option("--study", help="Study whose segments to test on (default: all).")
@click.option("--codebook", "codebook_ref", metavar="NAME[@V]", help="Codebook version (default: the latest loaded).")
@click.option("--gold", metavar="CODER", help="The reference coder: adds precision, recall, F1 and kappa per code.")
@click.option("--cv", default=5, show_default=True, help="Folds for out-of-fold figures.")
@click.option("--min-f1", default=0.5, show_default=True, help="With --gold, a code fails below this F1.")
@click.option("--methods", default="rules,semantic", show_default=True,
              help="Auto-coders to test (the classifier is added with --gold).")
@click.option("--compare", "compare_ref", metavar="NAME@V", help="Also test this version and show the change per code.")
@click.option("--model", help="Embedding model name or path.")
@click.option("--include-interviewer", is_flag=True, help=INTERVIEWER_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def test_codebook(ctx, study, codebook_ref, gold, cv, min_f1, methods, compare_ref, model, include_interviewer,
                  as_json):
    """Test a codebook like code: each example must be coded, each counter-example must not.

    Prints a line per code (PASS/FAIL, and with --gold P/R/F1/kappa), the failing quotes, and a last
    line like '12 passed, 3 failed'. Exits 1 when any code fails.
    """
    from insight.codetest import compare_reports, format_report

    with open_workspace(ctx) as ws:
        report = ws.test_codebook(study=study, codebook=codebook_ref, gold=gold, cv=cv, min_f1=min_f1,
                                  methods=methods.split(","), model=model, include_interviewer=include_interviewer,
                                  progress=None if as_json else _say)
        if compare_ref:
            old = ws.test_codebook(study=study, codebook=compare_ref, gold=gold, cv=cv, min_f1=min_f1,
                                   methods=methods.split(","), model=model, include_interviewer=include_interviewer)
            report["changes"] = compare_reports(old, report)
            report["compared_with"] = old["codebook"]
    if as_json:
        emit(report)
    else:
        click.echo(format_report(report))
        if compare_ref:
            click.echo(f"\nChange against {report['compared_with']}:")
            for row in report["changes"]:
                deltas = "  ".join(f"{k} {row[k + '_change']:+.2f}" for k in ("precision", "recall", "f1", "kappa")
                                   if row.get(k + "_change") is not None)
                click.echo(f"  {row['code']:<36} {deltas or 'no change in figures'}")
    if report["failed"]:
        ctx.exit(1)


@click.command()
@click.option("--coders", nargs=2, required=True, metavar="A B", help="Two coders; A is the gold for P/R/F1.")
@click.option("--study", help="Only this study.")
@click.option("--all-units", is_flag=True, help="Compare on every segment, not only those both coders saw.")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap resamples for the 95% intervals (0: none).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def agreement(ctx, coders, study, all_units, bootstrap, as_json):
    """Agreement between two coders, human or automatic: kappa, alpha, % agreement, P/R/F1 per code."""
    from insight.reliability import coverage_lines

    with open_workspace(ctx, read_only=True) as ws:
        result = ws.agreement(coders[0], coders[1], study=study, all_units=all_units, bootstrap=bootstrap)
    if as_json:
        emit(result)
        return

    def fmt(x):
        return "   -" if x is None else f"{x:5.2f}"

    o = result["overall"]
    click.echo(f"{coders[0]} vs {coders[1]} on {o['n_units']} units ({result['units']})")
    for line in coverage_lines(result):
        click.echo(line)
    click.echo(f"overall   kappa {fmt(o['kappa'])}  alpha {fmt(o['alpha'])}  agreement {fmt(o['percent_agreement'])}"
               f"  F1 {fmt(o['f1'])}")
    click.echo(f"{'code':<36} {'kappa':>5} {'alpha':>5} {'agree':>5} {'F1':>5}  {coders[0][:8]:>8} {coders[1][:8]:>8}")
    for row in result["codes"]:
        click.echo(f"{row['code'][:36]:<36} {fmt(row['kappa'])} {fmt(row['alpha'])} {fmt(row['percent_agreement'])} "
                   f"{fmt(row['f1'])}  {row['a_count']:>8} {row['b_count']:>8}")
    click.echo(result["unit_rule"])
    if result.get("characters"):
        click.echo("")
        click.echo(result["character_rule"])
        click.echo(f"{'code':<36} {'overlap':>7} {'both':>8} {coders[0][:8]:>8} {coders[1][:8]:>8}")
        for row in result["characters"]:
            click.echo(f"{row['code'][:36]:<36} {fmt(row['overlap']):>7} {row['both_chars']:>8} {row['a_chars']:>8} "
                       f"{row['b_chars']:>8}")


@click.command()
@click.option("--study", help="Only this study.")
@click.option("--limit", default=50, show_default=True, help="How many changes to show.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def history(ctx, study, limit, as_json):
    """Every change to codings (added, accepted, rejected, removed, relabelled, memo, undone): who, what, when
    and the passage."""
    import pandas as pd

    with open_workspace(ctx, read_only=True) as ws:
        frame = ws.history(study=study, limit=limit)
    if as_json:
        emit({"changes": frame.to_dict("records")})
        return
    for row in frame.itertuples():
        where = ""
        if not pd.isna(row.start):
            passage = " ".join(str(row.passage).split())
            passage = passage if len(passage) <= 50 else passage[:49] + "\u2026"
            where = f"  {row.document} {int(row.start)}\u2013{int(row.end)} \u201c{passage}\u201d"
        elif not pd.isna(row.segment_id):
            where = f"  segment {int(row.segment_id)}"
        click.echo(f"{row.changed_at:%Y-%m-%d %H:%M:%S}  {row.actor or '':<12} {row.action:<9} {row.code or '':<30} "
                   f"{row.coder or ''}{where}")


@click.command()
@click.option("--coder", help="Undo this coder's last change (default: the last change by anyone).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def undo(ctx, coder, as_json):
    """Undo the last change to a coding."""
    with open_workspace(ctx) as ws:
        result = ws.undo(coder)
    if as_json:
        emit(result)
    else:
        by = f" by {result['coder']}" if result.get("coder") else ""
        click.echo(f"Undid {result['undone']} of {result['code']!r}{by}.")


COMMANDS = [codebook, embed, code, test_codebook, agreement, history, undo]
