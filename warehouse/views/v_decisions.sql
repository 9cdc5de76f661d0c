-- v_decisions: one row per step of an assistance decision (全过程网办, issue 36): each proposal (提交),
-- return (退回) and approval (批准) as the portal logged it in lake/_decision_log/<YYYY-MM>.jsonl (read
-- as it stands: a step is here once logged), and each confirmation by a roster (落实) or lapse past
-- confirm_within_months (未落实) as a monthly run found it (`_decision_states`, the month it happened).
create or replace view v_decisions as
with log as (
    select
        regexp_extract(log.filename, '(\d{4}-\d{2})\.jsonl$', 1) as month,
        log.*
    from {decision_log} as log
),

logged as (
    select
        month,
        decision_id,
        proposal_id,
        version,
        case_id,
        household_id,
        township_code,
        county_code,
        case event when 'proposed' then '提交' when 'returned' then '退回' when 'approved' then '批准' end as step,
        kind,
        category,
        id_numbers,
        monthly_amount,
        one_off_amount,
        effective_from,
        account,
        role,
        cast("at" as timestamptz) as "at",
        reason,
        'lake/_decision_log/' || month || '.jsonl' as source
    from log
),

decided as (
    select * from {lake?:_decisions/*.parquet}
    union all by name
    select cast(null as varchar) as decision_id, cast(null as varchar) as proposal_id,
        cast(null as integer) as version, cast(null as double) as monthly_amount,
        cast(null as double) as one_off_amount
    where false
),

states as (
    select * from {lake?:_decision_states/*.parquet}
    union all by name
    select cast(null as varchar) as month, cast(null as varchar) as decision_id, cast(null as varchar) as state,
        cast(null as varchar) as since, cast(null as varchar) as source_file, cast(null as bigint) as source_row,
        cast(null as varchar) as case_id, cast(null as varchar) as household_id,
        cast(null as varchar) as township_code, cast(null as varchar) as county_code, cast(null as varchar) as kind,
        cast(null as varchar) as category, cast(null as varchar[]) as id_numbers,
        cast(null as varchar) as effective_from, cast(null as varchar) as due_month
    where false
),

found as (
    -- the month a decision reached 已落实 or 未落实 (a 未落实 the roster confirms later has both)
    select
        states.month,
        states.decision_id,
        decided.proposal_id,
        decided.version,
        states.case_id,
        states.household_id,
        states.township_code,
        states.county_code,
        case states.state when '已落实' then '落实' else '未落实' end as step,
        states.kind,
        states.category,
        states.id_numbers,
        decided.monthly_amount,
        decided.one_off_amount,
        states.effective_from,
        cast(null as varchar) as account,
        cast(null as varchar) as role,
        cast(null as timestamptz) as "at",
        case
            when states.state = '未落实' then '生效月份起 ' || states.due_month || ' 前名册未显示'
            when states.source_file like '_decision_log/%' then '一次性救助，批准即落实'
            when states.source_row is null then '已不在名册'
        end as reason,
        case
            when states.source_file like '_decision_log/%'
                then 'lake/' || states.source_file || ':' || states.source_row
            when states.source_row is not null
                then 'roster ' || states.month || ' ' || states.source_file || ':' || states.source_row
            when states.state = '已落实' then 'roster ' || states.month
        end as source
    from states
    left join decided on decided.decision_id = states.decision_id
    where states.state in ('已落实', '未落实') and states.since = states.month
),

final as (
    select * from logged
    union all by name
    select * from found
)

select * from final
order by proposal_id, "at" nulls last, month, step
