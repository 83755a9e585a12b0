"""Commands for pseudonymisation (and its review list), passwords for the app, and backups."""

from __future__ import annotations

import sys

import click

from insight.commands._common import JSON_HELP, emit, open_workspace


@click.command()
@click.option("--study", help="The study to pseudonymise (default: the only one).")
@click.option("--no-ner", is_flag=True, help="Use the rules only, even when a trained spaCy NER is installed.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def pseudonymise(ctx, study, no_ner, as_json):
    """Replace names, emails, phones, postcodes, addresses, dates of birth and NHS numbers with
    stable pseudonyms ([PERSON 3], [EMAIL 1]) across a study; originals are kept apart.

    Safe to re-run: it never replaces a pseudonym again and keeps your review decisions.
    """
    with open_workspace(ctx) as ws:
        result = ws.pseudonymise(study=study or None, use_ner=not no_ner)
    if as_json:
        emit(result)
        return
    click.echo(f"Pseudonymised {result['changed_documents']} of {result['documents']} documents: "
               f"{result['replaced']} replacements, {result['new_pseudonyms']} new pseudonyms, "
               f"{result['fields']} speaker labels, names and titles ({'NER ' + result['ner'] if result['ner'] else 'rules'}).")
    for kind, counts in result["by_kind"].items():
        click.echo(f"  {kind:<9} " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    if result["candidates"]:
        click.echo(f"{result['candidates']} possible names were left as they are: review them with "
                   "`insight pseudonyms --status candidate` and accept the right ones.")


@click.group(invoke_without_command=True)
@click.option("--study", help="Only this study.")
@click.option("--status", type=click.Choice(["replaced", "accepted", "undone", "candidate"]), help="Only this status.")
@click.option("--kind", help="Only this kind: PERSON, EMAIL, PHONE, POSTCODE, ADDRESS, DOB or NHS.")
@click.option("--label", help="Only the mentions of this pseudonym, e.g. '[PERSON 3]'.")
@click.option("--limit", type=int, default=200, show_default=True, help="How many to show.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def pseudonyms(ctx, study, status, kind, label, limit, as_json):
    """The review list: every replacement with its original, pseudonym, rule and context.

    It shows the originals: it is for researchers. Accept, undo or add with the subcommands.
    """
    if ctx.invoked_subcommand is not None:
        return
    with open_workspace(ctx, read_only=True) as ws:
        frame = ws.pseudonyms(study=study or None, status=status, kind=kind, label=label, limit=limit)
    if as_json:
        emit({"mentions": frame.to_dict("records")})
        return
    if frame.empty:
        click.echo("Nothing pseudonymised yet." if not (status or kind or label) else "No mentions match.")
        return
    for row in frame.itertuples():
        click.echo(f"{row.mention_id:>6}  {row.status:<9} {row.kind:<8} {row.original!r} -> {row.pseudonym or '-'}"
                   f"  ({row.source}, {row.score:.2f})  {row.document}")
        click.echo(f"        {row.context}")


@pseudonyms.command("accept")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_context
def pseudonyms_accept(ctx, ids):
    """Confirm replacements by id; a candidate (or an undone one) is replaced."""
    with open_workspace(ctx) as ws:
        n = ws.accept_pseudonyms(ids)
    click.echo(f"Accepted {n} replacement(s).")


@pseudonyms.command("undo")
@click.argument("ids", nargs=-1, type=int)
@click.option("--label", help="Undo every mention of this pseudonym (speaker labels and names too).")
@click.option("--study", help="The study of --label (default: the only one).")
@click.pass_context
def pseudonyms_undo(ctx, ids, label, study):
    """Show the original again for these replacements (it was not personal data)."""
    if not ids and not label:
        raise click.UsageError("Give replacement ids or --label.")
    with open_workspace(ctx) as ws:
        n = ws.undo_pseudonyms(ids, label=label, study=study or None)
    click.echo(f"Undid {n} replacement(s).")


@pseudonyms.command("add")
@click.argument("text")
@click.option("--kind", default="PERSON", show_default=True,
              help="PERSON, EMAIL, PHONE, POSTCODE, ADDRESS, DOB or NHS.")
@click.option("--label", help="The pseudonym to use (an existing one, or a new one of your choosing).")
@click.option("--study", help="The study (default: the only one).")
@click.pass_context
def pseudonyms_add(ctx, text, kind, label, study):
    """Replace something that was missed, everywhere in the study and in future runs."""
    with open_workspace(ctx) as ws:
        result = ws.add_pseudonym(text, kind=kind, label=label, study=study or None)
    click.echo(f"Replaced {result['replaced']} mention(s) in {result['documents']} document(s) with {result['pseudonym']}.")


@pseudonyms.command("rename")
@click.argument("label")
@click.argument("new_label")
@click.option("--study", help="The study (default: the only one).")
@click.pass_context
def pseudonyms_rename(ctx, label, new_label, study):
    """Use a pseudonym of your choosing, e.g. insight pseudonyms rename '[PERSON 3]' 'Anna'."""
    with open_workspace(ctx) as ws:
        result = ws.rename_pseudonym(label, new_label, study=study or None)
    click.echo(f"{result['from']} is now {result['to']} in {result['documents']} document(s).")


@pseudonyms.command("reveal")
@click.argument("label")
@click.option("--study", help="The study (default: the only one).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def pseudonyms_reveal(ctx, label, study, as_json):
    """Re-identify: the original behind a pseudonym (researchers only)."""
    with open_workspace(ctx, read_only=True) as ws:
        result = ws.reveal_pseudonym(label, study=study or None)
    if as_json:
        emit(result)
    else:
        click.echo(f"{result['pseudonym']} ({result['kind']}, {result['status']}): {result['original']}"
                   + (f"  (seen as: {', '.join(result['forms'])})" if result["forms"] else ""))


@pseudonyms.command("reverse")
@click.option("--study", help="The study (default: the only one).")
@click.option("--yes", is_flag=True, help="Do it without asking.")
@click.pass_context
def pseudonyms_reverse(ctx, study, yes):
    """Put every original back and forget the pseudonyms of a study."""
    if not yes:
        click.confirm("Put every original back in the study's text and forget its pseudonyms?", abort=True)
    with open_workspace(ctx) as ws:
        result = ws.reverse_pseudonyms(study=study or None)
    click.echo(f"Restored the original text of {result['documents']} document(s).")


@click.group()
def password():
    """Passwords for the app (stored as scrypt hashes beside the database)."""


@password.command("set")
@click.option("--role", type=click.Choice(["researcher", "viewer"]), default="researcher", show_default=True,
              help="Researchers can change things; viewers read pseudonymised text, themes and exports.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking.")
@click.pass_context
def password_set(ctx, role, password_stdin):
    """Set the app's password for a role; the app then asks for it, and may serve beyond localhost."""
    from insight.access import password_file, set_password

    if password_stdin:
        value = sys.stdin.readline().rstrip("\n")
    else:
        value = click.prompt(f"New {role} password", hide_input=True, confirmation_prompt=True)
    set_password(ctx.obj["db"], value, role)
    click.echo(f"The {role} password is set (hashed in {password_file(ctx.obj['db'])}).")


@password.command("remove")
@click.option("--role", type=click.Choice(["researcher", "viewer"]), help="Only this role's password (default: all).")
@click.pass_context
def password_remove(ctx, role):
    """Remove a password (the app then opens without one, on localhost only)."""
    from insight.access import remove_password

    removed = remove_password(ctx.obj["db"], role)
    click.echo("Removed." if removed else "There was no such password.")


@password.command("status")
@click.pass_context
def password_status(ctx):
    """Which roles have a password, and whether OpenID Connect login is configured."""
    from insight.access import oidc_configured, roles_with_password, users

    roles, accounts = roles_with_password(ctx.obj["db"]), users(ctx.obj["db"])
    none = "none" if accounts else "none (the app opens without one, localhost only)"
    click.echo("passwords     " + (", ".join(roles) if roles else none))
    click.echo("openid        " + ("configured (.streamlit/secrets.toml [auth])" if oidc_configured() else "not configured"))
    if accounts:
        click.echo(f"accounts      {len(accounts)} (insight users list); the role passwords no longer open the app")


@click.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The backup file to write (.duckdb).")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait while another process is writing.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def backup(ctx, out, wait, force, as_json):
    """Write a consistent copy of the database (works while the app is open), checked row for row."""
    from insight.backup import backup as run

    result = run(out, db=ctx.obj["db"], wait=wait, force=force)
    if as_json:
        emit(result)
    else:
        click.echo(f"Backed up {result['tables']} tables ({result['rows']} rows, schema version "
                   f"{result['schema_version']}) to {result['out']} ({result['bytes'] / 1e6:.1f} MB).")


COMMANDS = [pseudonymise, pseudonyms, password, backup]
