-- v_notices: anticipated needs (预计需求提示), one row per child and school stage noticed: a child who
-- reaches the stage's age by the next school year's first day (rules/parameters/population.yaml).
-- Not leads: no case, no deadline, not in v_kpis.
create or replace view v_notices as
with notices as (
    select * from {lake:_notices/*.parquet}
),

final as (
    select
        notices.month,
        notices.notice_id,
        notices.household_id,
        notices.township_code,
        notices.county_code,
        notices.id_number,
        notices.name,
        notices.stage,
        notices.starts_on,
        notices.age_on_start,
        notices.note,
        notices.rule_version,
        notices.run_id
    from notices
)

select * from final
order by month, notice_id
