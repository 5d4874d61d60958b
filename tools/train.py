"""Train a video recognizer: python tools/train.py CONFIG [options] (see --help)."""

import sys

from kinetix.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
