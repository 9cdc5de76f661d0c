-- v_cross_region: one row per month, direction and request of the cross-region checks (跨省核对,
-- CONTRACT.md version 3). 发出: the requests this province made of others, from the outgoing ledger
-- `_xr_requests` as it stands at each month's end (a request is on every month's ledger from the month
-- it was made: read one month to count). 收到: the requests other provinces made of this province, from
-- `_xr_incoming`, in the month they were received and answered (jobs/cross_region/answering.py).
-- status: 待回复, 已回复, 逾期 (an item unanswered after reply_by), 已重发 (asked again later: closed),
-- 已拒绝 (refused: no authorisation).
-- days_to_answer = answered_on - requested_on, of the requests answered. Months built before issue 35
-- have neither table: the view has no rows for them.
create or replace view v_cross_region as
with outgoing as (
    select * from {lake?:_xr_requests/*.parquet}
    union all by name
    select
        cast(null as varchar) as month, cast(null as varchar) as request_id, cast(null as varchar) as region,
        cast(null as varchar) as id_number, cast(null as varchar) as name,
        cast(null as varchar) as household_id, cast(null as varchar) as purpose,
        cast(null as varchar) as authorisation_ref, cast(null as varchar) as items,
        cast(null as date) as requested_on, cast(null as date) as reply_by,
        cast(null as varchar) as requested_month, cast(null as varchar) as answered_items,
        cast(null as date) as answered_on, cast(null as varchar) as pending_items,
        cast(null as varchar) as status
    where false
),

incoming as (
    select * from {lake?:_xr_incoming/*.parquet}
    union all by name
    select
        cast(null as varchar) as month, cast(null as varchar) as request_id, cast(null as varchar) as region,
        cast(null as varchar) as id_number, cast(null as varchar) as name, cast(null as varchar) as items,
        cast(null as varchar) as purpose, cast(null as varchar) as authorisation_ref,
        cast(null as date) as requested_on, cast(null as date) as reply_by, cast(null as date) as answered_on,
        cast(null as varchar) as status, cast(null as varchar) as reason,
        cast(null as varchar) as answered_from, cast(null as varchar) as source_ref
    where false
),

both_directions as (
    select
        month, '发出' as direction, request_id, region, id_number, name, items, purpose,
        household_id, authorisation_ref, requested_on, reply_by, answered_on, status,
        cast(null as varchar) as reason, answered_items, pending_items,
        cast(null as varchar) as source_ref
    from outgoing
    union all
    select
        month, '收到' as direction, request_id, region, id_number, name, items, purpose,
        cast(null as varchar) as household_id, authorisation_ref, requested_on, reply_by, answered_on,
        status, reason, cast(null as varchar) as answered_items, cast(null as varchar) as pending_items,
        source_ref
    from incoming
),

final as (
    select
        *,
        case when status = '已回复' then date_diff('day', requested_on, answered_on) end as days_to_answer
    from both_directions
)

select * from final
order by month, direction, request_id
