"""The package's version: one place, read by pyproject.toml, the web app and the hardware record."""

__version__ = "0.1.0"
