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
