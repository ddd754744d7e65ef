#!/usr/bin/env python3
"""Container entrypoint: run npm-gatekeeper as the GitHub Action (inputs from INPUT_* env)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gatekeeper.cli import main

if __name__ == "__main__":
    sys.exit(main(["action", *sys.argv[1:]], image=True))
