"""Lazy patterns (`gatekeeper._internal.patterns`) answer exactly as `re` does.

A pattern declared with `needs=` or `shortest=` skips texts that cannot match; a wrong literal
there would silently switch a detector off. So every declared pattern is checked against the
compiled `re` on (1) texts built from the pattern itself — one per alternative of every
`|`, each verified to match with `re` first — and (2) the real package files in the fixtures.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import re._constants as C
import re._parser as sre
from pathlib import Path

import pytest

import gatekeeper
from gatekeeper._internal import patterns
from gatekeeper._internal.tarball import read_package
from gatekeeper.policy import Policy

FIXTURES = Path(__file__).parent / "fixtures" / "tarballs"


def _declared() -> list[patterns.Pattern]:
    for info in pkgutil.walk_packages(gatekeeper.__path__, "gatekeeper."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    return list(patterns.DECLARED)


def _samples(pattern: str | bytes, flags: int) -> list[str]:
    """Strings built to match `pattern`: one per alternative of each branch (others take their first)."""
    tree = sre.parse(pattern if isinstance(pattern, str) else pattern.decode("latin-1"), flags)
    branches: list[int] = []

    def count(items) -> None:  # type: ignore[no-untyped-def]
        for op, av in items:
            if op is C.BRANCH:
                branches.append(len(av[1]))
                for alt in av[1]:
                    count(alt)
            elif op is C.SUBPATTERN:
                count(av[3])
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                count(av[2])

    count(tree)

    def build(items, choice: dict[int, int], seen: list[int], groups: dict[int, str]) -> str:  # type: ignore[no-untyped-def]
        out = ""
        for op, av in items:
            if op is C.LITERAL:
                out += chr(av)
            elif op is C.NOT_LITERAL:
                out += "a" if av != ord("a") else "b"
            elif op is C.ANY:
                out += "a"
            elif op is C.IN:
                out += _member(av)
            elif op is C.BRANCH:
                index = len(seen)
                seen.append(index)
                out += build(av[1][choice.get(index, 0)], choice, seen, groups)
            elif op is C.SUBPATTERN:
                text = build(av[3], choice, seen, groups)
                if av[0] is not None:
                    groups[av[0]] = text
                out += text
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                lo = av[0] if av[0] > 0 else 1 if av[1] else 0
                out += "".join(build(av[2], choice, seen, groups) for _ in range(min(lo, 4000)))
            elif op is C.GROUPREF:
                out += groups.get(av, "")
            # AT (anchors), ASSERT, ASSERT_NOT: nothing to add
        return out

    texts = [build(tree, {}, [], {})]
    for b, n in enumerate(branches):
        texts += [build(tree, {b: i}, [], {}) for i in range(1, n)]
    return texts


def _member(items) -> str:  # type: ignore[no-untyped-def]
    if items and items[0][0] is C.NEGATE:
        banned = {chr(av) for op, av in items[1:] if op is C.LITERAL}
        return next(c for c in "aZ0_ x" if c not in banned)
    op, av = items[0]
    if op is C.LITERAL:
        return chr(av)
    if op is C.RANGE:
        return chr(av[0])
    if op is C.CATEGORY:
        return {C.CATEGORY_DIGIT: "0", C.CATEGORY_SPACE: " ", C.CATEGORY_WORD: "a"}.get(av, "a")
    return "a"


DECLARED = _declared()


def test_every_module_level_pattern_of_the_diff_path_is_lazy() -> None:
    """The start-up guard's premise: the rule modules compile nothing at import."""
    assert len(DECLARED) >= 40
    for name in ("content", "install_code"):
        source = (Path(gatekeeper.__file__).parent / "diffing" / f"{name}.py").read_text()
        assert not re.search(r"^\w+ = re\.compile\(", source, re.M), f"diffing/{name}.py compiles at import"


@pytest.mark.parametrize("declared", DECLARED, ids=lambda p: repr(p.pattern)[:60])
def test_guarded_answers_equal_re_on_texts_built_from_the_pattern(declared: patterns.Pattern) -> None:
    compiled = re.compile(declared.pattern, declared.flags)
    matched = 0
    for sample in _samples(declared.pattern, declared.flags):
        text = sample if isinstance(declared.pattern, str) else sample.encode("latin-1")
        for wrapped in (text, text[:0] + text, (text[:0] + text) * 2):
            expected = compiled.search(wrapped)
            if expected is None:
                continue  # a lookaround or back-reference the builder did not satisfy
            matched += 1
            got = declared.search(wrapped)
            assert got is not None and got.span() == expected.span(), (declared, wrapped[:120])
            assert [m.span() for m in declared.finditer(wrapped)] == [m.span() for m in compiled.finditer(wrapped)]
    assert matched, f"no sample built for {declared!r} matched: extend the builder"


def test_guarded_answers_equal_re_on_real_package_files() -> None:
    texts: list[bytes] = []
    for tgz in sorted(FIXTURES.glob("*.tgz")):
        package = read_package(tgz, Policy().diff.limits)
        texts += [f.data for f in package.files.values()][:50]
    assert len(texts) > 20
    for declared in DECLARED:
        compiled = re.compile(declared.pattern, declared.flags)
        for data in texts:
            text = data if isinstance(declared.pattern, bytes) else data.decode("utf-8", "replace")
            assert [m.span() for m in declared.finditer(text)] == [m.span() for m in compiled.finditer(text)]


def test_needs_are_refused_with_ignorecase_and_nothing_compiles_until_used() -> None:
    with pytest.raises(ValueError):
        patterns.Pattern(r"abc", re.IGNORECASE, needs=("abc",))
    p = patterns.Pattern(rb"token_[0-9]+", needs=(b"token_",), shortest=7)
    assert p.search(b"nothing here") is None and p.findall(b"x" * 100) == [] and p._compiled is None
    assert p.search(b"token_") is None and p._compiled is None  # shorter than any match
    assert p.search(b"a token_12 b").group() == b"token_12" and p._compiled is not None
    assert p.sub(b"*", b"token_1 token_2") == b"* *"  # other methods are the compiled pattern's
