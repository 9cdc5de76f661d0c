-- v_doubtful_records: one row per household and check that found a doubtful record (疑点数据).
-- direction: 应退 (should exit), 核实 (verify at home), 应保 (should be covered). source_refs are
-- `month/file:row` of the delivered rows used as evidence (files kept in lake/_raw). record_id stays the
-- same from month to month while the record stands; the township returns it in `outcomes`. queued: an
-- issued record its township had no capacity for this month (v_cases state queued, jobs/cases/capacity.py):
-- not on the list, waiting at queue_rank. cross_province: evidence from another province's answer (异地核对结果);
-- cross_city: evidence about a member registered in another prefecture of the province (跨市).
create or replace view v_doubtful_records as
with doubtful as (
    select * from {lake:_doubtful/*.parquet}
    union all by name  -- months built before issue 35 have no cross-region flags
    select cast(null as boolean) as cross_province, cast(null as boolean) as cross_city where false
),

queue as (
    select month, case_id, queue_rank
    from (
        select * from {lake:_cases/*.parquet}
        union all by name  -- months built before issue 30 have no queue
        select cast(null as uinteger) as queue_rank where false
    )
    where kind = 'doubtful' and state = 'queued'
),

final as (
    select
        doubtful.month,
        doubtful.record_id,
        doubtful.household_id,
        doubtful.township_code,
        doubtful.check_id,
        doubtful.direction,
        doubtful.evidence,
        doubtful.source_refs,
        coalesce(doubtful.cross_province, false) as cross_province,
        coalesce(doubtful.cross_city, false) as cross_city,
        doubtful.issued,
        doubtful.issued_on,
        doubtful.visit_by,
        queue.case_id is not null as queued,
        queue.queue_rank,
        doubtful.rule_version,
        doubtful.run_id
    from doubtful
    left join queue
        on doubtful.month = queue.month and doubtful.record_id = queue.case_id
)

select * from final
order by month, township_code, household_id, check_id
