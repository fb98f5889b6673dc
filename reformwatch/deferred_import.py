"""Stand-ins for heavy modules that a library imports at its top but uses only inside functions.

Great Expectations imports scipy.stats and altair when it loads (for the KL-divergence expectation and
its charts, which reformwatch's suites do not use): about 2 of GX's 4-5 CPU s of import, paid in every
run. `defer("scipy.stats")` puts a stand-in into sys.modules; the library's `import` binds it, and the
first attribute read on it imports the real module and forwards to it, so code that does use the module
still works, only later. (importlib.util.LazyLoader does not serve here: in Python 3.11 the `import`
statement itself reads `__spec__` from the module, which makes a lazy module load at once.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    """A module not imported yet: the first attribute it lacks imports the real one."""

    def __getattr__(self, attr: str) -> object:
        return getattr(_realize(self), attr)


def _realize(stub: _Deferred) -> types.ModuleType:
    name = stub.__name__
    if sys.modules.get(name) is stub:
        del sys.modules[name]
    real = importlib.import_module(name)
    parent, _, child = name.rpartition(".")
    if parent and getattr(sys.modules.get(parent), child, None) is stub:
        setattr(sys.modules[parent], child, real)
    return real


def defer(name: str) -> bool:
    """Make `import name` (and `from parent import child`) bind a stand-in until the module is used.

    Returns False, changing nothing, when the module is already imported or cannot be found.
    """
    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)  # imports the parent package (e.g. scipy, which is light)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    stub = _Deferred(name)
    stub.__spec__ = spec
    stub.__file__ = spec.origin
    stub.__loader__ = spec.loader
    sys.modules[name] = stub
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, stub)
    return True


def is_deferred(name: str) -> bool:
    """Whether `name` is still a stand-in (not imported for real)."""
    return isinstance(sys.modules.get(name), _Deferred)
