"""The detection corpus (issue 9): real release pairs must pass or block as expected (no noisy block, no
missed install-time change), every incident
reconstruction must block for its reason. Figures are printed (`pytest -s tests/test_corpus.py`).

Real pairs: the committed fixtures always, plus bench/corpus_pairs.txt where cached under
`${GATEKEEPER_CACHE:-.cache}/corpus/` (`python bench/corpus.py --fetch-only` fills it; nothing is
downloaded at test time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests._support import incidents
from tests._support.tarballs import fixture

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import corpus

CASES = incidents.all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_incident_reconstruction_blocks_for_its_reason(case: incidents.Case) -> None:
    result = case.diff()
    blocking = {f.rule for f in result.findings if f.blocks}
    assert set(case.expect) <= blocking, result.findings


def test_chalk_debug_shape_has_independent_signals() -> None:
    """Any one signal removed, the shape still blocks (the variants above); the full shape shows several."""
    [full] = [c for c in CASES if c.name.startswith("chalk/debug: obfuscated code appended")]
    [f] = [f for f in full.diff().findings if f.rule == "obfuscated-code"]
    assert len(f.evidence["signals"]) >= 3, f.evidence  # type: ignore[arg-type]


def test_corpus_figures(capsys: pytest.CaptureFixture[str]) -> None:
    figures, _ = corpus.run()
    data = figures.to_json()
    with capsys.disabled():
        print("\ncorpus:", data)
    assert data["noisy_blocks"] == [] and data["missed_true_changes"] == []
    assert data["attacks_blocked"] == data["attacks"] == len(CASES)
    assert fixture("esbuild-0.20.2").is_file()
