"""CLI command groups, discovered: a module here with ``app = typer.Typer(...)`` (and an
optional ``NAME``) becomes ``followthrough NAME ...``."""
