"""One small registry class; the package's registries (models, data sets, steps, ...) are instances.

Adding a model, a data set or a method is one decorated function:

>>> from torchshrink.registry import Registry
>>> THINGS = Registry("thing")
>>> @THINGS.register("double")
... def double(x: int) -> int:
...     return 2 * x
>>> THINGS.get("double")(3)
6
>>> THINGS.names("d*")
['double']
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Iterator, TypeVar

from .errors import TorchshrinkError, suggest

T = TypeVar("T")


def _line(obj: Any) -> int | None:
    """The source line an object was defined at (a function's, or a class's first method's)."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_firstlineno
    for v in vars(obj).values() if isinstance(obj, type) else ():
        if hasattr(v, "__code__"):
            return v.__code__.co_firstlineno
    return None


def _same_definition(a: Any, b: Any) -> bool:
    """True when ``b`` is ``a`` defined again by the same module executed twice (e.g. imported from its path)."""
    key = lambda o: (getattr(o, "__module__", None), getattr(o, "__qualname__", None), _line(o))  # noqa: E731
    return key(a) == key(b) and key(a)[1] is not None


class Registry:
    """A name -> object mapping with clear errors for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator registering a function or class under ``name`` (default: its ``__name__``)."""

        def deco(obj: T) -> T:
            key = name or getattr(obj, "__name__")
            old = self._items.get(key)
            if old is not None and not _same_definition(old, obj):
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._items[key] = obj
            if meta:
                setattr(obj, "_registry_meta", meta)
            return obj

        return deco

    def get(self, name: str) -> Any:
        """Return the object registered as ``name``; unknown names raise a clear error."""
        try:
            return self._items[name]
        except KeyError:
            valid = sorted(self._items)
            raise TorchshrinkError(
                f"unknown {self.kind} {name!r}{suggest(name, valid)}; valid names: {', '.join(valid)}"
            ) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style ``pattern``."""
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
