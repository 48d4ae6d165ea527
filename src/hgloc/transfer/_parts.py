"""A big file's parts, computed on demand: a plan costs the same for 1 MB and 1 PB.

The same split as :func:`hgloc.sources._ranges.plan_parts` (equal parts, none
longer than ``part_size``), as a sequence whose items are made when asked for,
so a file listed with an absurd size never makes millions of objects up front.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from hgloc.sources._ranges import Part

__all__ = ["PartPlan"]


class PartPlan(Sequence[Part]):
    """The parts of a ``size``-byte file; a file of at most ``split_above`` bytes is one part.

    >>> plan = PartPlan(10, part_size=4, split_above=5)
    >>> len(plan), plan[2], list(plan)[0]
    (3, Part(index=2, start=8, end=10), Part(index=0, start=0, end=4))
    >>> len(PartPlan(2**50, part_size=1, split_above=0))  # nothing is built
    1125899906842624
    """

    def __init__(self, size: int, *, part_size: int, split_above: int) -> None:
        if size < 0 or part_size < 1 or split_above < 0:
            raise ValueError(f"bad plan: size={size}, part_size={part_size}, split={split_above}")
        self.size = size
        if size <= split_above:
            self._count, self._length = 1, size
        else:
            count = -(-size // part_size)  # ceil
            self._length = -(-size // count)  # equal parts: no tiny tail part
            self._count = -(-size // self._length)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Part: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Part]: ...
    def __getitem__(self, index: int | slice) -> Part | Sequence[Part]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        start = index * self._length
        return Part(index, start, min(start + self._length, self.size))

    def __iter__(self) -> Iterator[Part]:
        for index in range(self._count):
            yield self[index]
