"""CLI commands beyond the foundation, one module per area; each imports ``main`` from
``insight.cli`` and decorates its commands with ``@main.command()`` or ``@main.group()``.
Keep imports of heavy libraries inside the command functions so ``insight --help`` stays fast."""
