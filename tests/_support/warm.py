"""Fill the tests' install cache before pytest needs it: `python -m tests._support.warm`.

On a fresh clone the test fixtures install Verdaccio, the provenance verifier, the pinned packers, Node 22 with
semantic-release and its git plugin on first use, one after the other inside the xdist workers, while the
container image builds on the same cores. scripts/test.sh starts this at the very beginning instead, in the
background, while `ruff`, the lint install and the container set-up step (apt) run: the installs are mostly
downloads, so they run side by side here (threads), before the image build takes the cores.

Each install is the fixtures' own function under its own file lock: a fixture that needs one while it is still
being installed waits for it and then finds it installed; a warm cache costs a few stat calls. A failure
here fails nothing: the fixture that needs the install tries again and its error is the one that counts
(this prints what failed, and exits 1 so test.sh can say so).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests._support import packers, semrel, verdaccio, verifier

INSTALLS: dict[str, Callable[[], Any]] = {
    "verdaccio": verdaccio.ensure_installed,
    "verifier": verifier.ensure_installed,
    "packers": packers.ensure_installed,
    "node22 + semantic-release": semrel.ensure_installed,
    "@semantic-release/git": semrel.ensure_git_plugin,
}


def _timed(name: str, install: Callable[[], Any]) -> tuple[str, float, str | None]:
    start = time.monotonic()
    try:
        install()
    except Exception:  # reported here; the fixture that needs it tries again and reports its own error
        return name, time.monotonic() - start, traceback.format_exc(limit=3)
    return name, time.monotonic() - start, None


def main() -> int:
    with ThreadPoolExecutor(max_workers=len(INSTALLS)) as pool:
        results = list(pool.map(lambda item: _timed(*item), INSTALLS.items()))
    failed = 0
    for name, seconds, error in results:
        print(f"warm: {name}: {'FAILED' if error else 'ready'} after {seconds:.1f} s")
        if error:
            failed += 1
            print(error)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
