"""Commands for a team: accounts per person (``insight users``) and blind samples, their agreement
and adjudication (``insight assign``)."""

from __future__ import annotations

import sys

import click

from insight.commands._common import JSON_HELP, emit, open_workspace

ROLE_HELP = ("lead: codebook, assignments, adjudication, re-identification; coder: codes as themselves; "
             "viewer: reads pseudonymised text, themes and exports.")


def _new_password(name: str) -> str:
    """The password from standard input (one line), or asked twice on a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)


@click.group()
def users():
    """Accounts per person for the app (scrypt hashes beside the database); the coder of every
    coding is the person logged in."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["lead", "coder", "viewer"]), default="coder", show_default=True,
              help=ROLE_HELP)
@click.pass_context
def users_add(ctx, name, role):
    """Add an account; the password comes from standard input (or is asked for twice)."""
    from insight.access import add_user, password_file, roles_with_password

    account = add_user(ctx.obj["db"], name, _new_password(name), role)
    click.echo(f"Added {account['name']} ({account['role']}); hashed in {password_file(ctx.obj['db'])}.")
    retired = roles_with_password(ctx.obj["db"])
    if retired:
        click.echo(f"The role passwords ({', '.join(retired)}) no longer open the app now that accounts exist; "
                   "`insight password remove` deletes them.")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def users_list(ctx, as_json):
    """The accounts and their roles (never a password)."""
    from insight.access import users as accounts

    found = accounts(ctx.obj["db"])
    if as_json:
        emit({"users": found})
        return
    if not found:
        click.echo("No accounts: the app opens without a name (localhost only). Add one: insight users add NAME "
                   "--role lead")
    for user in found:
        click.echo(f"{user['name']:<24} {user['role']:<7} added {user['created_at']}")


@users.command("remove")
@click.argument("name")
@click.pass_context
def users_remove(ctx, name):
    """Remove an account (its codings stay, under its name)."""
    from insight.access import remove_user

    click.echo(f"Removed {remove_user(ctx.obj['db'], name)}.")


@users.command("passwd")
@click.argument("name")
@click.pass_context
def users_passwd(ctx, name):
    """Give an account a new password (from standard input, or asked for twice)."""
    from insight.access import set_user_password

    click.echo(f"New password set for {set_user_password(ctx.obj['db'], name, _new_password(name))}.")


class _AssignGroup(click.Group):
    """``insight assign CODER ...`` draws a sample; ``insight assign list|unblind|...`` do the rest."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["sample", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_AssignGroup)
def assign():
    """Blind double-coding: samples for a second coder, agreement on them, adjudication.

    insight assign CODER --share 0.2 --by question --reference "First Coder" draws a sample.
    """


@assign.command("sample")
@click.argument("coder")
@click.option("--share", type=float, help="The share of units to draw (0 to 1).")
@click.option("--units", type=int, help="The number of units to draw.")
@click.option("--by", help="Stratify by question, document, or a participant attribute (e.g. ward).")
@click.option("--seed", default=0, show_default=True, help="The same seed draws the same sample.")
@click.option("--reference", metavar="CODER", help="Draw from the units this coder saw (the work being checked).")
@click.option("--name", help="A name for the sample (default: 'Sample N for CODER').")
@click.option("--lead", metavar="NAME", help="Who assigns it (recorded).")
@click.option("--study", help="The study (default: all).")
@click.option("--include-interviewer", is_flag=True, help="Sample the interviewer's turns too.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def assign_sample(ctx, coder, study, as_json, **options):
    """Assign a sample of units to CODER, blind: they see no one's codings or suggestions there."""
    from insight.access import require_account
    from insight.team import Team

    require_account(ctx.obj["db"], coder)
    with open_workspace(ctx) as ws:
        drawn = Team(ws).assign(coder, study=study, **options)
    if as_json:
        emit(drawn)
        return
    source = f"the {drawn['population']:,} units {drawn['reference']} saw" if drawn["reference"] else \
        f"{drawn['population']:,} units"
    click.echo(f"Assigned {drawn['units']:,} units in {drawn['documents']:,} documents to {drawn['coder']} as "
               f"{drawn['name']!r} (assignment {drawn['assignment_id']}), drawn from {source} with seed "
               f"{drawn['seed']}; blind until a lead unblinds it.")
    if drawn["by"]:
        click.echo(f"by {drawn['by']}: " + ", ".join(f"{s} {k} of {n}" for s, (k, n) in drawn["strata"].items()))


@assign.command("list")
@click.option("--study", help="The study (default: all).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def assign_list(ctx, study, as_json):
    """Every sample: its coder, size, how much is coded, and whether it is blind."""
    from insight.team import Team

    with open_workspace(ctx, read_only=True) as ws:
        frame = Team(ws).assignments(study)
    if as_json:
        emit({"assignments": frame.drop(columns="settings").to_dict(orient="records")})
        return
    for row in frame.itertuples():
        state = "blind" if row.blind else f"unblinded by {row.unblinded_by or '?'}"
        click.echo(f"{row.assignment_id:>3}  {row.name:<28} {row.coder:<16} {row.coded:>4}/{row.units:<4} units coded"
                   f"  {state}")


@assign.command("unblind")
@click.argument("assignment")
@click.option("--lead", metavar="NAME", help="Who unblinds it (recorded).")
@click.pass_context
def assign_unblind(ctx, assignment, lead):
    """End the blinding of a sample: its codings are visible to all, agreement can be read."""
    from insight.team import Team

    with open_workspace(ctx) as ws:
        done = Team(ws).unblind(assignment, lead)
    click.echo(f"{done['name']!r} is unblinded: everyone sees {done['coder']}'s codings there.")


@assign.command("agreement")
@click.argument("assignment")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def assign_agreement(ctx, assignment, as_json):
    """Agreement on a sample, per code, for every pair of its coders."""
    from insight.team import Team

    with open_workspace(ctx, read_only=True) as ws:
        result = Team(ws).sample_agreement(assignment)
    if as_json:
        emit(result)
        return
    click.echo(result["units_note"])
    for pair in result["pairs"]:
        a, b = pair["coders"]
        o = pair["overall"]
        click.echo(f"{a} vs {b} on {o['n_units']:,} units: kappa {_f(o['kappa'])}  alpha {_f(o['alpha'])}  agreement "
                   f"{_f(o['percent_agreement'])}")
        for row in pair["codes"]:
            click.echo(f"  {row['code']:<30} kappa {_f(row['kappa'])}  {a} {row['a_count']}  {b} {row['b_count']}  "
                       f"both {row['both']}")


def _f(x) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


@assign.command("adjudicate")
@click.argument("assignment")
@click.argument("segment_id", type=int)
@click.argument("code")
@click.argument("decision", type=click.Choice(["apply", "omit"]))
@click.option("--lead", metavar="NAME", required=True, help="Who decides (recorded).")
@click.option("--note", help="Why.")
@click.pass_context
def assign_adjudicate(ctx, assignment, segment_id, code, decision, lead, note):
    """Settle one disagreement: the Consensus coder gets CODE on the unit (apply) or not (omit)."""
    from insight.team import Team

    with open_workspace(ctx) as ws:
        Team(ws).adjudicate(assignment, segment_id, code, decision, lead, note=note)
    click.echo(f"Consensus: {code} {'applied to' if decision == 'apply' else 'left off'} segment {segment_id}.")


COMMANDS = [users, assign]
