"""CLI commands beyond the foundation, one module per area; each defines its commands with
``@click.command()`` or ``@click.group()``, lists them in ``COMMANDS`` (``insight.cli`` adds them to
``main``) and imports its helpers from :mod:`insight.commands._common`, never from ``insight.cli``.
Keep imports of heavy libraries inside the command functions so ``insight --help`` stays fast."""
