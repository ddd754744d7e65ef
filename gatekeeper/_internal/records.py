"""Value classes with the behaviour of `dataclasses`, at a fraction of its start-up cost.

`gatekeeper diff` of two small tarballs must start in under 80 ms (issue 11). On Python 3.11 the
standard `dataclasses` costs about 17 ms to import (it loads `inspect`, `ast`, `dis`, `tokenize`)
and about 1 ms per frozen class, because every generated method is compiled from source on its
own; the diff path alone declares about 40 such classes. This module keeps the same declarations
(`@record`, `@record(frozen=True)`, `field(default=…, default_factory=…, metadata=…)`) and the
same helpers (`fields`, `replace`, `asdict`, `is_record`), with the semantics the code relies on:

- `__init__` takes the fields in order, positionally or by keyword; a default is shared, a
  `default_factory` is called for every instance that does not pass the field; mutable defaults
  (a list, dict or set) and a field without a default after one with a default are errors;
- `__repr__` and `__eq__` over the fields (only between instances of the same class); frozen
  classes are hashable by their fields and refuse assignment and deletion
  (`FrozenInstanceError`, an `AttributeError`); mutable classes are unhashable;
- methods the class defines itself are kept; fields of record base classes come first.

No code is generated from source (no `exec`): `__init__` is a closure over the class's fields and
the other methods are shared functions that read the class's field names. docs/DESIGN.md
("Start-up") has the figures.
"""

from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False  # `typing` itself is not imported at run time (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_kwargs: object) -> object:
        """Type checkers read `typing.dataclass_transform`; at run time this is a no-op."""
        return lambda decorated: decorated


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_EMPTY: Mapping[str, Any] = {}


class FrozenInstanceError(AttributeError):
    """Assignment to (or deletion of) a field of a frozen record."""


class Field:
    """One declared field: its name, annotation (a string), default or default factory, metadata."""

    __slots__ = ("default", "default_factory", "metadata", "name", "type")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, metadata: Any = None) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.metadata: Mapping[str, Any] = metadata if metadata is not None else _EMPTY

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING, metadata: Any = None) -> Any:
    """Declare a field's default (or a factory called per instance) and metadata."""
    return Field(default, default_factory, metadata)


@dataclass_transform(field_specifiers=(field, Field))
def record(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Make `cls` a record (use as `@record` or `@record(frozen=True)`)."""

    def wrap(c: type[T]) -> type[T]:
        return _process(c, frozen)

    return wrap if cls is None else wrap(cls)


def is_record(obj: Any) -> bool:
    """True for a record class or instance."""
    return hasattr(obj, "__record_fields__")


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order."""
    return tuple(_names(obj).values())


def replace(obj: T, /, **changes: Any) -> T:
    """A new instance of `obj`'s class with `changes` applied to its fields."""
    names = _names(obj)
    for name in changes:
        if name not in names:
            raise TypeError(f"{type(obj).__qualname__} has no field {name!r}")
    values = {name: changes[name] if name in changes else getattr(obj, name) for name in names}
    return type(obj)(**values)


def asdict(obj: Any) -> dict[str, Any]:
    """The record as a dict, recursing into records, lists, tuples and dicts (other values are shared)."""
    if not is_record(obj) or isinstance(obj, type):
        raise TypeError("asdict() should be called on record instances")
    return _asdict(obj)


def _asdict(value: Any) -> Any:
    if hasattr(value, "__record_fields__") and not isinstance(value, type):
        return {name: _asdict(getattr(value, name)) for name in value.__record_fields__}
    if isinstance(value, list):
        return [_asdict(v) for v in value]
    if isinstance(value, tuple):
        items = [_asdict(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return type(value)((_asdict(k), _asdict(v)) for k, v in value.items())
    return value


def _names(obj: Any) -> Mapping[str, Field]:
    try:
        return obj.__record_fields__
    except AttributeError:
        raise TypeError(f"{obj!r} is not a record") from None


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        key = self.__record_key__
        return key(self) == key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__record_key__(self))


def _process(cls: type[T], frozen: bool) -> type[T]:
    own = cls.__dict__
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        found.update(getattr(base, "__record_fields__", _EMPTY))
    for name, annotation in own.get("__annotations__", _EMPTY).items():
        if isinstance(annotation, str) and annotation.replace("typing.", "").startswith("ClassVar"):
            continue
        value = own.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, annotation
        if f.default is not MISSING and type(f.default).__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: use default_factory")
        if f.default is MISSING:
            if name in own:
                delattr(cls, name)  # a field(default_factory=...) leaves no class attribute
        else:
            setattr(cls, name, f.default)
        found.pop(name, None)
        found[name] = f

    seen_default = False
    for name, f in found.items():
        if f.default is MISSING and f.default_factory is MISSING:
            if seen_default:
                raise TypeError(f"non-default argument {name!r} follows default argument")
        else:
            seen_default = True
    init = _make_init(cls, found, "__post_init__" in dir(cls))

    names = tuple(found)
    cls.__record_fields__ = found  # type: ignore[attr-defined]
    cls.__record_key__ = staticmethod(_key(names))  # type: ignore[attr-defined]
    cls.__match_args__ = names  # type: ignore[attr-defined]
    _keep(cls, "__init__", init)
    _keep(cls, "__repr__", _repr)
    _keep(cls, "__eq__", _eq)
    if "__hash__" not in own or own["__hash__"] is None:
        cls.__hash__ = _hash if frozen else None  # type: ignore[assignment,method-assign]
    if frozen:

        def __setattr__(self: Any, name: str, value: Any) -> None:
            if type(self) is cls or name in names:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(cls, self).__setattr__(name, value)

        def __delattr__(self: Any, name: str) -> None:
            if type(self) is cls or name in names:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(cls, self).__delattr__(name)

        for method in (__setattr__, __delattr__):
            if method.__name__ in own:
                raise TypeError(f"cannot overwrite {method.__name__} in frozen record {cls.__qualname__}")
            method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
            setattr(cls, method.__name__, method)
    return cls


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The fields' values as a tuple (what `__eq__` and `__hash__` compare)."""
    if len(names) > 1:
        return attrgetter(*names)  # a tuple for two names or more
    return lambda obj: tuple(getattr(obj, name) for name in names)


def _make_init(cls: type, found: Mapping[str, Field], post_init: bool) -> Callable[..., None]:
    """`__init__(self, *fields)`: binds positional and keyword arguments as a generated one would.

    A closure, not code compiled from source: `exec` of a generated `__init__` was ~60% of a class's
    cost (0.1 ms each, ~40 classes on the diff path); the closure costs ~1.5 us more per instance.
    Values go straight into the instance `__dict__` (as `object.__setattr__` would for a frozen one).
    """
    names = tuple(found)
    count = len(names)
    known = frozenset(names)
    defaults = {n: f.default for n, f in found.items() if f.default is not MISSING}
    factories = {n: f.default_factory for n, f in found.items() if f.default_factory is not MISSING}
    qualname = f"{cls.__qualname__}.__init__"

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > count:
            raise TypeError(f"{qualname}() takes {count + 1} positional arguments but {len(args) + 1} were given")
        values = dict(zip(names, args, strict=False))  # fewer args than fields: the rest below
        for key, value in kwargs.items():
            if key not in known:
                raise TypeError(f"{qualname}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{qualname}() got multiple values for argument {key!r}")
            values[key] = value
        if len(values) < count:
            for name in names:
                if name in values:
                    continue
                if name in factories:
                    values[name] = factories[name]()
                elif name in defaults:
                    values[name] = defaults[name]
                else:
                    raise TypeError(f"{qualname}() missing required argument: {name!r}")
        self.__dict__.update(values)
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = qualname
    return __init__


def _keep(cls: type, name: str, method: Any) -> None:
    if name not in cls.__dict__:
        setattr(cls, name, method)
