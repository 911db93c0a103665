"""A least-recently-used map within a budget of bytes (or characters): for answers derived from
content-addressed input, which are always right for as long as they are kept."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BudgetLru(Generic[K, V]):
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` (costing ``size`` of the budget); one larger than the whole budget is not kept."""
        if size > self.budget or key in self._items:
            return
        self._items[key] = (value, size)
        self.size += size
        while self.size > self.budget:
            _, (_, dropped) = self._items.popitem(last=False)
            self.size -= dropped
