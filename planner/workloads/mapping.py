"""How trace functions become models, as in the reference evaluation:
only functions with traffic inside the chosen time range count, and they are
dealt out round-robin. Functions are numbered 0, 1, 2, ... in the order in
which they first show traffic in the range (2019: files in day order, rows
in file order; 2021: by first arrival, whatever the row order); function
``i`` serves model ``i mod num_models``."""

from __future__ import annotations

from collections.abc import Hashable


class RoundRobinMapper:
    """Assigns each new function key the next model index, cyclically."""

    def __init__(self, num_models: int) -> None:
        if num_models <= 0:
            raise ValueError(f"num_models: must be > 0, got {num_models}")
        self.num_models = num_models
        self._model_of: dict[Hashable, int] = {}

    def model_of(self, function: Hashable) -> int:
        """The model index serving ``function`` (assigned on first call)."""
        model = self._model_of.get(function)
        if model is None:
            model = len(self._model_of) % self.num_models
            self._model_of[function] = model
        return model

    @property
    def num_functions(self) -> int:
        """How many functions have been assigned so far."""
        return len(self._model_of)
