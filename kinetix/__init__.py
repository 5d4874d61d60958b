"""kinetix: train and test video action recognizers from MMAction2-style configs."""

__version__ = "0.1.0"
