"""Great Expectations' engine, started once per process: one context, each suite built once per version.

A process that validates several sources (`safetynet run`, a test, a worker running several tasks)
starts GE's ephemeral context once and builds each suite once, then reuses both. A suite is keyed by
its source, GE's version and a digest of the expectations it is built from (read from the suite
file, less those the sample cannot check), so a changed suite file is built again, never served
stale. Each validation still gets a data source of its own (added, used, deleted), as it did when
every task had its own context: GE's execution engine caches metrics by batch id, and a data source
reused for another sample would give every sample the same id.

What this saves is small next to importing GE (seconds in a fresh process, against hundredths for
the context and thousandths for a suite: docs/data-team/validation.md, "Started once"); that import
is paid once per worker by importing GE before the task processes fork (`safetynet/preload.py`).
"""

from __future__ import annotations

import hashlib
import json
import threading

_LOCK = threading.Lock()  # the context and its data sources are shared by the process's threads
_context = None
_suites: dict[tuple[str, str, str], object] = {}


def suite_key(source: str, expectations: list[dict]) -> tuple[str, str, str]:
    """(source, GE version, digest of the expectations): what a built suite is reused for."""
    import great_expectations as gx  # deferred: seconds to import in a process that has not

    digest = hashlib.sha256(json.dumps(expectations, sort_keys=True, default=str).encode()).hexdigest()
    return source, gx.__version__, digest


def context():
    """The process's ephemeral GE context, started on first use."""
    global _context
    if _context is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _context


def suite(source: str, expectations: list[dict]):
    """The GE ExpectationSuite of `expectations`, built once per source, GE version and content;
    each expectation's `meta` carries its position in the list (GE reorders its results)."""
    key = suite_key(source, expectations)
    if key not in _suites:
        import great_expectations as gx

        _suites[key] = gx.ExpectationSuite(
            name=source, expectations=[_to_config(e, i) for i, e in enumerate(expectations)]
        )
    return _suites[key]


def results(source: str, expectations: list[dict], frame, parameters: dict) -> dict:
    """GE's own engine over a pandas `frame` (with the row number `__i`): its result per
    expectation, by position in `expectations`."""
    with _LOCK:
        ctx = context()
        ge_suite = suite(source, expectations)
        name = f"lake_{source}"  # this validation's own data source, deleted after
        data_source = ctx.data_sources.add_pandas(name)
        try:
            batch = (
                data_source.add_dataframe_asset(source)
                .add_batch_definition_whole_dataframe("month")
                .get_batch(batch_parameters={"dataframe": frame})
            )
            result = batch.validate(
                ge_suite,
                expectation_parameters=parameters,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["__i"]},
            )
        finally:
            ctx.data_sources.delete(name)
    return {res.expectation_config.meta["position"]: res for res in result.results}


def _to_config(exp: dict, position: int):
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    meta = {**exp["meta"], "position": position}
    return ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=meta).to_domain_obj()
