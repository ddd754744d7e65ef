"""Runs LAST: the suite left the machine as it found it (issue 20), but for the announced package install.

Compared with the snapshot taken before anything ran (`tests/_support/hostcheck.py`): nothing this
run made under `/var/lib/containers`, in the machine's temp dir or in `~/.npm/_logs`, no installed
Debian package upgraded, downgraded or removed by it. "This run's" is exact where the run has a group
of its own (root: every file it makes carries that gid); other processes' files never count.
`tests/test_hostcheck.py` provokes the failure (the plugin's tests writing to /tmp) and checks it.
`scripts/test.sh` runs this file on its own after the whole suite (and after its background image
build); in a plain `pytest` run `tests/conftest.py` moves it to the end, and under xdist (where
nothing runs "last") it skips and says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests._support import hostcheck


def test_the_suite_left_the_host_as_it_found_it() -> None:
    before_file = os.environ.get("GATEKEEPER_HOST_BEFORE")
    assert before_file, "no snapshot of the host before the run (tests/conftest.py takes one in pytest_configure)"
    before = json.loads(Path(before_file).read_text(encoding="utf-8"))
    after = hostcheck.snapshot_again(before)
    own = tuple(p for p in (os.environ.get("GATEKEEPER_SUITE_TMP"),) if p)  # this run's own, removed at its end
    problems, notes = hostcheck.compare(before, after, own)
    for note in notes:
        print("hostcheck:", note)
    assert problems == [], "the suite changed the host:\n- " + "\n- ".join(problems)
