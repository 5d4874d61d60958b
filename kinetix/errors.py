"""User-facing errors.

Anything the user can fix (a bad config, a missing file, a malformed annotation
line) raises a subclass of :class:`KinetixError`. The command-line entry points
catch these and print a single line instead of a traceback, because the message
already names what is wrong and where.
"""


class KinetixError(Exception):
    """An error caused by user input; printed as one line, without a traceback."""


class ConfigError(KinetixError):
    """A config file, a config key or a ``--cfg-options`` value is wrong."""


class DataError(KinetixError):
    """An annotation file, a video, a frame folder or a sample is wrong."""


class CheckpointError(KinetixError):
    """A checkpoint cannot be found, read or loaded."""


class ConfigWarning(UserWarning):
    """A config key that kinetix accepts but ignores or reads differently.

    Its message starts with the key path; the run's logger prints it as one
    line, ``WARNING - config: <key path>: <message>``, without our source line.
    """


def warn_config(key_path: str, message: str, stacklevel: int = 2) -> None:
    """Warn about config key ``key_path`` (``stacklevel`` as for ``warnings.warn``, from the caller)."""
    import warnings  # here, so that importing the errors stays free of side modules

    warnings.warn(f"{key_path}: {message}", ConfigWarning, stacklevel=stacklevel + 1)
