"""Libraries imported on first use, so that a server that never needs one never loads it.

    if TYPE_CHECKING:
        import ollama
    else:
        ollama = lazy_module("ollama")

Type checkers see the real module; at run time `ollama.AsyncClient` imports it on that
first attribute access. Unlike `importlib.util.LazyLoader`, nothing enters `sys.modules`
before the import really happens, so `"ollama" in sys.modules` keeps telling the truth
(the start-up test relies on it).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    """Stands for a module until an attribute is read, then imports and delegates."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """A stand-in for module `name` that imports it when first used."""
    return _LazyModule(name)
