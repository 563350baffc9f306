"""CLI command modules, each a typer app that cli.py mounts. Thin: they call the library."""
