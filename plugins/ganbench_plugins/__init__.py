"""ganbench's standard plugins. They register through entry points in ganbench's
pyproject.toml, exactly as a third party's package would, and import nothing from the core."""
