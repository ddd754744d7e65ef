"""`gatekeeper._internal.records` behaves as the standard `dataclasses` does, for what the code uses.

Each behaviour is checked on a record class and on the same declaration made with `dataclasses`
(the oracle), so a difference between the two fails here rather than somewhere in a gate.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from gatekeeper._internal import records
from gatekeeper._internal.records import FrozenInstanceError, field, record


def _declare(decorate, frozen: bool):  # type: ignore[no-untyped-def]
    """The same class body under either decorator."""

    class Item:
        """An item."""

        name: str
        size: int = 0
        tags: list[str] = (dataclasses.field if decorate is dataclasses.dataclass else field)(default_factory=list)
        note: str = (dataclasses.field if decorate is dataclasses.dataclass else field)(
            default="-", metadata={"yaml": False}
        )

        def label(self) -> str:
            return f"{self.name}:{self.size}"

    return decorate(frozen=frozen)(Item)


BOTH = [
    pytest.param(dataclasses.dataclass, id="dataclasses"),
    pytest.param(record, id="records"),
]


@pytest.mark.parametrize("decorate", BOTH)
@pytest.mark.parametrize("frozen", [False, True])
def test_init_defaults_repr_eq(decorate, frozen: bool) -> None:  # type: ignore[no-untyped-def]
    Item = _declare(decorate, frozen)
    a = Item("x")
    assert (a.name, a.size, a.tags, a.note) == ("x", 0, [], "-")
    assert repr(a) == f"{Item.__qualname__}(name='x', size=0, tags=[], note='-')"
    b = Item("x", 0, [], note="-")
    assert a == b
    assert (a != b) is False
    assert Item("x", size=1) != a
    assert a.label() == "x:0"
    assert Item("x").tags is not Item("x").tags  # the factory runs per instance
    assert Item("y", tags=["t"]).tags == ["t"]
    assert (a == ("x", 0, [], "-")) is False  # no equality with other types
    assert Item.__match_args__ == ("name", "size", "tags", "note")
    with pytest.raises(TypeError):
        Item()  # missing a required field
    with pytest.raises(TypeError):
        Item("x", unknown=1)
    with pytest.raises(TypeError):
        Item("x", name="y")  # given twice


@pytest.mark.parametrize("decorate", BOTH)
def test_frozen_refuses_assignment_and_hashes_by_fields(decorate) -> None:  # type: ignore[no-untyped-def]
    @decorate(frozen=True)
    class Point:
        x: int
        y: int = 0

    p = Point(1, 2)
    with pytest.raises(AttributeError) as raised:
        p.x = 3  # type: ignore[misc]
    assert type(raised.value).__name__ == "FrozenInstanceError"
    with pytest.raises(AttributeError):
        del p.y  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.other = 1  # type: ignore[attr-defined]
    assert hash(p) == hash(Point(1, 2)) and {p, Point(1, 2)} == {p}
    assert (p.x, p.y) == (1, 2)


@pytest.mark.parametrize("decorate", BOTH)
def test_mutable_record_is_unhashable_and_assignable(decorate) -> None:  # type: ignore[no-untyped-def]
    Item = _declare(decorate, False)
    a = Item("x")
    a.size = 5
    assert a.size == 5
    with pytest.raises(TypeError):
        hash(a)


@pytest.mark.parametrize("decorate", BOTH)
def test_declaration_errors(decorate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="mutable default"):

        @decorate
        class Bad:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="non-default argument"):

        @decorate
        class Order:
            a: int = 0
            b: int


@pytest.mark.parametrize("decorate", BOTH)
def test_own_methods_are_kept(decorate) -> None:  # type: ignore[no-untyped-def]
    @decorate(frozen=True)
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Named) and other.name.lower() == self.name.lower()

        __hash__ = object.__hash__

    assert repr(Named("A")) == "<A>"
    assert Named("A") == Named("a")


def test_helpers_match_dataclasses() -> None:
    Rec, Dc = _declare(record, True), _declare(dataclasses.dataclass, True)
    r, d = Rec("x", 2, ["a"]), Dc("x", 2, ["a"])
    assert [(f.name, f.type) for f in records.fields(r)] == [(f.name, f.type) for f in dataclasses.fields(d)]
    assert [f.name for f in records.fields(Rec)] == ["name", "size", "tags", "note"]
    assert records.fields(r)[3].metadata["yaml"] is False and records.fields(r)[0].metadata.get("yaml", True)
    assert records.replace(r, size=3) == Rec("x", 3, ["a"])
    assert r.size == 2  # replace builds a new instance
    with pytest.raises(TypeError):
        records.replace(r, nope=1)
    assert records.asdict(r) == dataclasses.asdict(d)
    assert records.is_record(r) and records.is_record(Rec) and not records.is_record(d) and not records.is_record(1)
    with pytest.raises(TypeError):
        records.fields(d)
    with pytest.raises(TypeError):
        records.asdict(Rec)


def test_asdict_recurses_into_nested_records_and_containers() -> None:
    @record(frozen=True)
    class Leaf:
        v: int

    @record
    class Tree:
        leaves: list[Leaf] = field(default_factory=list)
        by_name: dict[str, Leaf] = field(default_factory=dict)
        pair: tuple[Leaf, ...] = ()

    t = Tree([Leaf(1)], {"a": Leaf(2)}, (Leaf(3),))
    assert records.asdict(t) == {"leaves": [{"v": 1}], "by_name": {"a": {"v": 2}}, "pair": ({"v": 3},)}


def test_inherited_fields_come_first() -> None:
    @record(frozen=True)
    class Base:
        a: int

    @record(frozen=True)
    class Child(Base):
        b: str = "b"

    c = Child(1)
    assert (c.a, c.b) == (1, "b") and [f.name for f in records.fields(c)] == ["a", "b"]
    assert repr(c) == f"{Child.__qualname__}(a=1, b='b')"
    assert Child(1) != Base(1)


def test_copy_and_pickle_round_trip() -> None:
    p = _Module(1, ["x"])
    assert copy.deepcopy(p) == p and copy.copy(p) == p
    assert pickle.loads(pickle.dumps(p)) == p
    with pytest.raises(FrozenInstanceError):
        copy.deepcopy(p).n = 2  # type: ignore[misc]


@record(frozen=True)
class _Module:
    n: int
    items: list[str] = field(default_factory=list)


@pytest.mark.parametrize("decorate", BOTH)
def test_post_init_runs_after_the_fields_are_set(decorate) -> None:  # type: ignore[no-untyped-def]
    @decorate
    class Span:
        start: int
        end: int = 0
        width: int = -1

        def __post_init__(self) -> None:
            self.width = self.end - self.start

    assert Span(2, 7).width == 5 and Span(start=1).width == -1
    with pytest.raises(TypeError):
        Span(1, 2, 3, 4)
