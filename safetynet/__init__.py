"""safetynet: low-income population dynamic monitoring (低收入人口动态监测).

Polars' allocator (jemalloc) keeps memory it has freed until it next allocates; a task that hands
a province's frames over to DuckDB (the means test) would carry both. A background thread returns
freed pages within about a second instead, at no cost in time (figures: docs/design/benchmark-history.md,
"Figures that were in the code"). Set here,
before any module of ours imports Polars; a deployment's own `_RJEM_MALLOC_CONF` is added after it
and wins.
"""

import os

_ALLOCATOR = "background_thread:true,muzzy_decay_ms:0"
os.environ["_RJEM_MALLOC_CONF"] = ",".join(filter(None, [_ALLOCATOR, os.environ.get("_RJEM_MALLOC_CONF")]))
