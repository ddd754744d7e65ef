import sys

from gatekeeper.cli import script

sys.exit(script())
