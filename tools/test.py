"""Test a video recognizer: python tools/test.py CONFIG CHECKPOINT [options] (see --help)."""

import sys

from kinetix.cli import test_main

if __name__ == "__main__":
    sys.exit(test_main())
