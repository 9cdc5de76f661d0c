-- v_runs: one row per finished monthly run, history kept.
-- A month's current results are those of its latest run (is_current).
create or replace view v_runs as
with runs as (
    select * from read_parquet('{lake}/_runs/*.parquet', union_by_name = true)
),

final as (
    select
        runs.run_id,
        runs.month,
        runs.started_at,
        runs.finished_at,
        runs.status,
        runs.rule_version,
        runs.suite_version,
        runs.files,
        runs.rows_delivered,
        runs.accepted,
        runs.quarantined,
        runs.sources_not_delivered,
        runs.sources_unusable,
        runs.errors,
        runs.unknown_files,
        runs.finished_at = max(runs.finished_at) over (partition by runs.month) as is_current
    from runs
)

select * from final
