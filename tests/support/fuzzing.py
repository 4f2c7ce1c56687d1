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
import traceback
from collections.abc import Callable
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


AST_DEFECT = "AST constructor recursion depth mismatch"


def retry_on_cpython_ast_defect(run: Callable[[], None], attempts: int = 3) -> None:
    """Run a hypothesis-driven fuzz again when it failed only because of gh-106905 (hypothesis itself parses
    lambdas' source in the fuzzing thread); any other failure, or the defect three times, is raised as it is."""
    for attempt in range(attempts):
        try:
            run()
            return
        except BaseException as failure:
            if attempt + 1 < attempts and AST_DEFECT in "".join(traceback.format_exception(failure)):
                continue
            raise
