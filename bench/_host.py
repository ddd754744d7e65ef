"""What a benchmark must leave alone on the host: npm's debug logs go to a temp dir of the run.

npm writes a debug log of every command to `~/.npm/_logs` (and prunes the user's own logs there);
a benchmark starts npm hundreds of times. Each bench script calls `private_npm_logs()` first.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def private_npm_logs() -> None:
    """Point every npm child of this process at a temp logs dir, removed at exit."""
    if any(key.lower() == "npm_config_logs_dir" for key in os.environ):  # npm reads either case
        return
    logs = tempfile.mkdtemp(prefix="gk-bench-npm-logs-")
    os.environ["NPM_CONFIG_LOGS_DIR"] = logs
    atexit.register(shutil.rmtree, logs, True)
