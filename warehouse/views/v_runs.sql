-- v_runs: one row per run of the monthly DAG, failed ones included (the run log, lake/_runs/).
-- Airflow's run id and the clock times live here only; a month's results are named by their
-- content id (`build`: the deliveries' SHA-256, rule, suite and code versions, previous month's
-- build). is_current: this run made the month's build that readers see now (a rerun on the same
-- inputs makes the same build, so both runs are current and no new commit is made). stale: the month
-- was built on a previous month that has since been rerun (`safetynet backfill --from` redoes it).
-- status: waiting (waiting_for: the previous month, or the readiness marker _READY), running, held
-- (release_gate lists the checks that tripped; the data team approves or rejects), rejected, failed,
-- success, incomplete. approved_by: who released a month whose gate tripped.
create or replace view v_runs as
with runs as (
    select *
    from read_json(
        '{lake}/_runs/*.json',
        format = 'auto',
        columns = {
            run_id: 'varchar', month: 'varchar', build: 'varchar', previous: 'varchar', seen: 'varchar',
            started_at: 'timestamptz', finished_at: 'timestamptz', status: 'varchar', error: 'varchar',
            failed_task: 'varchar', attempts: 'integer', commit: 'integer', replaced: 'varchar',
            rule_version: 'varchar', suite_version: 'varchar', code_version: 'varchar',
            files: 'struct(source varchar, file varchar, sha256 varchar, bytes bigint, encoding varchar, "rows" bigint)[]',
            rows_delivered: 'bigint', accepted: 'bigint', quarantined: 'bigint',
            sources_not_delivered: 'varchar[]', sources_unusable: 'varchar[]', errors: 'varchar[]',
            unknown_files: 'varchar[]', waiting_for: 'varchar', release_gate: 'varchar[]', approved_by: 'varchar'
        }
    )
),

final as (
    select
        runs.run_id,
        runs.month,
        runs.build,
        runs.previous,
        runs.started_at,
        runs.finished_at,
        runs.status,
        runs.error,
        runs.failed_task,
        runs.attempts,
        runs.commit,
        runs.replaced,
        runs.rule_version,
        runs.suite_version,
        runs.code_version,
        runs.files,
        runs.rows_delivered,
        runs.accepted,
        runs.quarantined,
        runs.sources_not_delivered,
        runs.sources_unusable,
        runs.errors,
        runs.unknown_files,
        runs.waiting_for,
        runs.release_gate,
        runs.approved_by,
        coalesce(catalog.build = runs.build and runs.status in ('success', 'incomplete'), false) as is_current,
        coalesce(catalog.build = runs.build and runs.status in ('success', 'incomplete') and catalog.stale, false)
            as stale
    from runs
    left join _catalog as catalog
        on runs.month = catalog.month
)

select * from final
order by month, started_at, run_id
