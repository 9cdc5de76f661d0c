-- v_assistance_funnel: one row per month and area (a township, a county, the province): how far cases
-- go towards assistance that arrived (issue 36), each step counted in the month it happened:
-- leads = cases first issued (leads and doubtful records); visited = cases a visit's outcome closed;
-- proposed = proposals first submitted (提交, version 1); approved = decisions approved (批准);
-- confirmed = decisions a roster confirmed (落实; 临时救助 by its approval); unconfirmed = decisions that
-- became 未落实. The medians are days between steps, of the steps reached this month: issue to visit,
-- visit to first proposal, first proposal to approval, approval to the end of the confirming roster's
-- month (decisions confirmed by a roster). urgent_* : urgent (紧急) cases first issued this month on
-- households already receiving assistance ({recipient_categories} when issued), and those helped
-- (a decision of a kind that is assistance, {assistance_kinds}: not 退出, approved for the case) within {urgent_help_hours} hours of the list's issue day
-- (rules/decisions/decisions.yaml); the log is read as it stands, so a month's share grows as later
-- approvals come in. Proposals and approvals come from lake/_decision_log/ (read as v_decisions does).
create or replace view v_assistance_funnel as
with cases as (
    select * from {lake:_cases/*.parquet}
    union all by name  -- months built before issue 33 have no mark, before the clerk issue no category
    select cast(null as varchar) as corrects_outcome, cast(null as varchar) as category where false
),

log as (
    select
        regexp_extract(log.filename, '(\d{4}-\d{2})\.jsonl$', 1) as month,
        cast(substr(log."at", 1, 19) as timestamp) as local_at,  -- China time, as logged (+08:00)
        log.*
    from {decision_log} as log
),

states as (
    select * from {lake?:_decision_states/*.parquet}
    union all by name
    select cast(null as varchar) as month, cast(null as varchar) as decision_id, cast(null as varchar) as state,
        cast(null as varchar) as since, cast(null as varchar) as source_file, cast(null as varchar) as township_code,
        cast(null as varchar) as county_code, cast(null as date) as approved_on
    where false
),

visits as (
    -- each case's latest visit (a correction's, once read)
    select case_id, visited_on
    from cases
    where state = 'closed' and visited_on is not null
    qualify row_number() over (partition by case_id order by month desc) = 1
),

first_proposed as (
    select proposal_id, min(local_at) as proposed_at
    from log
    where event = 'proposed'
    group by proposal_id
),

steps as (
    select month, township_code, county_code, 'lead' as step, cast(null as double) as days
    from cases
    where state = 'new' and kind in ('lead', 'doubtful')
    union all
    select month, township_code, county_code, 'visit' as step, days_open as days
    from cases
    where state = 'closed' and corrects_outcome is null
    union all
    select log.month, log.township_code, log.county_code, 'proposal' as step,
        date_diff('day', visits.visited_on, cast(log.local_at as date)) as days
    from log
    left join visits on visits.case_id = log.case_id
    where log.event = 'proposed' and log.version = 1
    union all
    select log.month, log.township_code, log.county_code, 'approval' as step,
        date_diff('hour', first_proposed.proposed_at, log.local_at) / 24.0 as days
    from log
    left join first_proposed on first_proposed.proposal_id = log.proposal_id
    where log.event = 'approved'
    union all
    select month, township_code, county_code, 'confirmation' as step,
        case when source_file not like '_decision_log/%' then date_diff(
            'day', approved_on, last_day(cast(month || '-01' as date))
        ) end as days
    from states
    where state = '已落实' and since = month
    union all
    select month, township_code, county_code, 'lapse' as step, cast(null as double) as days
    from states
    where state = '未落实' and since = month
),

urgent as (
    select
        cases.month,
        cases.township_code,
        cases.county_code,
        exists (
            select 1 from log
            where log.event = 'approved' and log.case_id = cases.case_id and log.kind in {assistance_kinds}
                and log.local_at <= cast(cases.first_issued_on as timestamp) + to_hours({urgent_help_hours})
        ) as helped
    from cases
    where cases.state = 'new' and cases.urgency = '紧急' and cases.category in {recipient_categories}
),

counted as (
    select
        month,
        case
            when grouping(township_code) = 0 then 'township'
            when grouping(county_code) = 0 then 'county'
            else 'province'
        end as area_level,
        coalesce(township_code, county_code, 'all') as area_code,
        count(*) filter (where step = 'lead') as leads,
        count(*) filter (where step = 'visit') as visited,
        count(*) filter (where step = 'proposal') as proposed,
        count(*) filter (where step = 'approval') as approved,
        count(*) filter (where step = 'confirmation') as confirmed,
        count(*) filter (where step = 'lapse') as unconfirmed,
        median(days) filter (where step = 'visit') as median_days_to_visit,
        median(days) filter (where step = 'proposal') as median_days_visit_to_proposal,
        round(median(days) filter (where step = 'approval'), 1) as median_days_proposal_to_approval,
        median(days) filter (where step = 'confirmation') as median_days_approval_to_confirmation
    from steps
    group by grouping sets ((month, county_code, township_code), (month, county_code), (month))
),

urgent_counted as (
    select
        month,
        case
            when grouping(township_code) = 0 then 'township'
            when grouping(county_code) = 0 then 'county'
            else 'province'
        end as area_level,
        coalesce(township_code, county_code, 'all') as area_code,
        count(*) as urgent_recipient_cases,
        count(*) filter (where helped) as urgent_helped_in_time
    from urgent
    group by grouping sets ((month, county_code, township_code), (month, county_code), (month))
),

final as (
    select
        counted.*,
        coalesce(urgent_counted.urgent_recipient_cases, 0) as urgent_recipient_cases,
        coalesce(urgent_counted.urgent_helped_in_time, 0) as urgent_helped_in_time,
        round(urgent_counted.urgent_helped_in_time / nullif(urgent_counted.urgent_recipient_cases, 0), 4)
            as urgent_helped_share
    from counted
    left join urgent_counted
        on counted.month = urgent_counted.month
        and counted.area_level = urgent_counted.area_level
        and counted.area_code = urgent_counted.area_code
)

select * from final
order by month, area_level, area_code
