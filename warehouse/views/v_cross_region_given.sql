-- v_cross_region_given: one row per item this province answered to another one (PIPL: what was given,
-- to whom, about whom, on which authorisation), from `_xr_given` and `_xr_incoming`
-- (jobs/cross_region/answering.py). A refused request gives nothing: it has no row here (v_cross_region
-- shows it, 已拒绝). found: 是 (value and detail given), 否 (the department delivered and holds nothing),
-- 无数据 (the department did not deliver that month).
create or replace view v_cross_region_given as
with given as (
    select * from {lake?:_xr_given/*.parquet}
    union all by name
    select
        cast(null as varchar) as month, cast(null as varchar) as request_id, cast(null as varchar) as item,
        cast(null as varchar) as found, cast(null as double) as value, cast(null as varchar) as detail
    where false
),

incoming as (
    select * from {lake?:_xr_incoming/*.parquet}
    union all by name
    select
        cast(null as varchar) as month, cast(null as varchar) as request_id, cast(null as varchar) as region,
        cast(null as varchar) as id_number, cast(null as varchar) as name, cast(null as varchar) as purpose,
        cast(null as varchar) as authorisation_ref, cast(null as date) as answered_on,
        cast(null as varchar) as answered_from, cast(null as varchar) as source_ref
    where false
),

final as (
    select
        given.month,
        given.request_id,
        incoming.region,
        incoming.purpose,
        incoming.authorisation_ref,
        incoming.id_number,
        incoming.name,
        given.item,
        given.found,
        given.value,
        given.detail,
        incoming.answered_on,
        incoming.answered_from,
        incoming.source_ref
    from given
    inner join incoming
        on incoming.month = given.month
        and incoming.request_id = given.request_id
)

select * from final
order by month, request_id, item
