"""Small value classes without a dataclass's cost at import.

`@dataclass` compiles each method it writes (__init__, __repr__, __eq__, __hash__, a frozen
class's __setattr__ and __delattr__) from source when the module is imported, and `slots=True`
builds the class twice: for the classes a one-file run imports that was a quarter of its
instructions (issue 17). A `Record` writes `__slots__` and `__init__` itself and inherits ==,
hash and repr as a dataclass made them, and `_replace` as dataclasses.replace: over its fields
(`_fields`, in order), equal only to an instance of the same class.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self


class Record:
    """Base of a plain slots class with a dataclass's ==, hash, repr and replace. Never changed
    once made (as the frozen dataclasses they were): `_replace` makes a copy."""

    __slots__ = ()
    # The fields, in order (a subclass's `__slots__` is the same tuple): what == and hash
    # compare and repr shows, as a dataclass's fields.
    _fields: ClassVar[tuple[str, ...]] = ()
    # When not every field: those == and hash compare (a dataclass's `compare=False` left
    # out), those repr shows (`repr=False` left out).
    _compared: ClassVar[tuple[str, ...] | None] = None
    _shown: ClassVar[tuple[str, ...] | None] = None
    # When a field is a property over slots of other names (read on first use): the slots
    # `_replace` copies as they are, before setting the changed fields.
    _stored: ClassVar[tuple[str, ...] | None] = None

    def _values(self) -> tuple[Any, ...]:
        names = self._fields if self._compared is None else self._compared
        return tuple([getattr(self, name) for name in names])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        names = self._fields if self._shown is None else self._shown
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({values})"

    def _replace(self, **changes: Any) -> Self:
        """A copy with `changes` (field name -> value), as dataclasses.replace made. Named as
        namedtuple's: a rule expression reads no name that starts with `_`, and the attribute
        reference lists none."""
        unknown = changes.keys() - set(self._fields)
        if unknown:
            name = self.__class__.__name__
            raise TypeError(f"{name} has no field {', '.join(sorted(unknown))}")
        clone = object.__new__(self.__class__)
        if self._stored is not None:
            for name in self._stored:
                setattr(clone, name, getattr(self, name))
            for name, value in changes.items():
                setattr(clone, name, value)
            return clone
        for name in self._fields:
            setattr(clone, name, changes[name] if name in changes else getattr(self, name))
        return clone
