"""The one error the central commands turn into a plain message instead of a traceback."""


class ConfigError(ValueError):
    """A bad option, database URL or broker URL; the message names it and says what is wrong."""
