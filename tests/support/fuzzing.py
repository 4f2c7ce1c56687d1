"""Import every module of schemathesis once, in the main thread, before a fuzzing test starts.

pytest rewrites the assertions of every module of a pytest plugin's distribution, schemathesis included, when it
is first imported: `ast.parse` and `compile` of the module's tree. schemathesis imports some modules lazily, inside
the generation code, which our fuzzing tests run in a thread beside the event loop's. On CPython 3.11.7 two threads
building ASTs at once can trip the interpreter's shared AST recursion counter (gh-106905, fixed in 3.11.8):
"SystemError: AST constructor recursion depth mismatch", failing a fuzz case that has nothing wrong with it. With
everything imported up front no AST is built while the fuzzing runs.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import schemathesis


def _import_all(package: ModuleType) -> None:
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        try:
            importlib.import_module(module.name)
        except Exception:  # an optional extra's module, its dependency absent: never used here
            continue


def import_fuzzers_eagerly() -> None:
    _import_all(schemathesis)
