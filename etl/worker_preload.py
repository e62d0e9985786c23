"""Imported once by the ingest worker pool's fork server, before it forks any worker: the pipeline and,
when validation runs it, Great Expectations, so every worker starts with them imported.

The imports run with the garbage collector off: they create hundreds of thousands of objects and no
garbage, yet trigger full collections that scan them all (4 collections, 56 objects freed, ~0.3 s of the
~2 s import here, while a nightly increment waits for its workers). Afterwards everything imported is
frozen (`gc.freeze`): the collections the workers run later leave it alone, and a forked worker does not
touch (and copy) the pages holding it just to scan them.
"""

import gc
import importlib

from etl import config

PIPELINE = ("etl.ingest",)
# etl.validate.gx_run before GX itself: it defers imports GX makes for expectations never used.
GREAT_EXPECTATIONS = ("etl.validate.gx_run", "great_expectations")

gc.disable()
try:
    for module in PIPELINE + (GREAT_EXPECTATIONS if config.gx_enabled() else ()):
        importlib.import_module(module)
finally:
    gc.enable()
gc.freeze()
