-- v_doubtful_records: one row per household and check that found a doubtful record (疑点数据).
-- direction: 应退 (should exit), 核实 (verify at home), 应保 (should be covered). source_refs are
-- `month/file:row` of the delivered rows used as evidence (files kept in lake/_raw). record_id stays the
-- same from month to month while the record stands; the township returns it in `outcomes`.
create or replace view v_doubtful_records as
with doubtful as (
    select * from {lake:_doubtful/*.parquet}
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
        doubtful.issued,
        doubtful.issued_on,
        doubtful.visit_by,
        doubtful.rule_version,
        doubtful.run_id
    from doubtful
)

select * from final
order by month, township_code, household_id, check_id
