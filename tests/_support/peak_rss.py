"""`python peak_rss.py SCRIPT ARGS...`: run SCRIPT as __main__, then write this process's peak RSS
(KiB, `ru_maxrss`) to the file named by $GK_PEAK_RSS_FILE (removed from the env first, so children
never see it). Used by `run_action(measure=True)`."""

from __future__ import annotations

import os
import resource
import runpy
import sys

out = os.environ.pop("GK_PEAK_RSS_FILE", "")
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
try:
    runpy.run_path(script, run_name="__main__")
finally:
    if out:
        with open(out, "w", encoding="ascii") as fh:
            fh.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
