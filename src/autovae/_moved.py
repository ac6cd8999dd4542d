"""Old import paths of the flat layout, served for one release by today's modules.

``import autovae.divergences`` (or a recorded ``_target_: autovae.divergences.KL``) gets
``autovae.inference.objectives`` itself, with a DeprecationWarning naming the new path. The map
lives in ``autovae.runs.migration``, beside the rewriting of recorded targets."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

from autovae.runs.migration import MOVED_MODULES, SPLIT_MODULES


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self):
        self._specs = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES or fullname in SPLIT_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = MOVED_MODULES.get(spec.name) or SPLIT_MODULES[spec.name]
        warnings.warn(f"{spec.name} moved to {new if isinstance(new, str) else ' / '.join(new)}; the old path "
                      f"works for this release only", DeprecationWarning, stacklevel=3)
        if isinstance(new, str):
            module = importlib.import_module(new)
            self._specs[id(module)] = module.__spec__  # the import system overwrites it with the old name's
            return module
        merged = types.ModuleType(spec.name)
        for part in new:
            merged.__dict__.update({k: v for k, v in vars(importlib.import_module(part)).items()
                                    if not k.startswith("__")})
        return merged

    def exec_module(self, module):
        if id(module) in self._specs:
            module.__spec__ = self._specs.pop(id(module))


def install() -> None:
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        # first: an old package path (autovae.callbacks) must not let the path finder load a second
        # copy of a module it holds under the old name
        sys.meta_path.insert(0, _MovedModuleFinder())
