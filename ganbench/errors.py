"""Errors a user can act on. The CLI prints their message on one line and exits with 2."""


class GanbenchError(Exception):
    """Bad input: a message that names the problem and the fix."""

    exit_code = 2


class PluginError(GanbenchError):
    """A plugin that is unknown, ambiguous, broken, or breaks its contract."""


class ConfigError(GanbenchError):
    """A run or sweep configuration that cannot be used."""


class DataError(GanbenchError):
    """Data that is missing, corrupt, or of the wrong shape."""
