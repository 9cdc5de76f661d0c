-- v_assistance_cohort: one row per cohort month and area (a township, a county, the province): the
-- cases first issued in a month (leads and doubtful records) and how many of THEM have been visited,
-- proposed for, approved and confirmed so far, as of the latest month the views read (issue 36).
-- v_assistance_funnel counts each step in the month it happened (a flow: September's visits are
-- mostly August's cases); this view follows one month's cases to where they went (本月下发案件的去向).
-- Every kind of decision counts as v_assistance_funnel counts it. The medians are days between a
-- cohort case's steps: issue (first_issued_on) to its latest visit, visit to first proposal, first
-- proposal to first approval, approval to the end of the confirming roster's month (decisions a
-- roster confirmed; 临时救助 is confirmed by its approval and has no such days).
create or replace view v_assistance_cohort as
with cases as (
    select * from {lake:_cases/*.parquet}
    union all by name  -- months built before issue 33 have no mark
    select cast(null as varchar) as corrects_outcome where false
),

log as (
    select log.case_id, log.event, cast(substr(log."at", 1, 19) as timestamp) as local_at  -- China time
    from {decision_log} as log
),

states as (
    select * from {lake?:_decision_states/*.parquet}
    union all by name
    select cast(null as varchar) as month, cast(null as varchar) as case_id, cast(null as varchar) as state,
        cast(null as varchar) as source_file, cast(null as varchar) as confirmed_month,
        cast(null as date) as approved_on
    where false
),

cohort as (
    select case_id, month as cohort_month, township_code, county_code, first_issued_on
    from cases
    where state = 'new' and kind in ('lead', 'doubtful')
    qualify row_number() over (partition by case_id order by month) = 1
),

visits as (
    -- each case's latest visit (a correction's, once read)
    select case_id, visited_on
    from cases
    where state = 'closed' and visited_on is not null
    qualify row_number() over (partition by case_id order by month desc) = 1
),

decided as (
    select case_id,
        min(local_at) filter (where event = 'proposed') as proposed_at,
        min(local_at) filter (where event = 'approved') as approved_at
    from log
    group by case_id
),

confirmed as (
    -- each case's first confirmed decision; days only for a roster's confirmation
    select case_id, confirmed_month,
        case when source_file not like '_decision_log/%' then date_diff(
            'day', approved_on, last_day(cast(confirmed_month || '-01' as date))
        ) end as days
    from states
    where state = '已落实'
    qualify row_number() over (partition by case_id order by confirmed_month, approved_on) = 1
),

followed as (
    select
        cohort.*,
        visits.visited_on is not null as visited,
        decided.proposed_at is not null as proposed,
        decided.approved_at is not null as approved,
        confirmed.case_id is not null as confirmed,
        date_diff('day', cohort.first_issued_on, visits.visited_on) as days_to_visit,
        date_diff('day', visits.visited_on, cast(decided.proposed_at as date)) as days_visit_to_proposal,
        date_diff('hour', decided.proposed_at, decided.approved_at) / 24.0 as days_proposal_to_approval,
        confirmed.days as days_approval_to_confirmation
    from cohort
    left join visits on visits.case_id = cohort.case_id
    left join decided on decided.case_id = cohort.case_id
    left join confirmed on confirmed.case_id = cohort.case_id
),

final as (
    select
        cohort_month,
        case
            when grouping(township_code) = 0 then 'township'
            when grouping(county_code) = 0 then 'county'
            else 'province'
        end as area_level,
        coalesce(township_code, county_code, 'all') as area_code,
        count(*) as cohort_leads,
        count(*) filter (where visited) as cohort_visited,
        count(*) filter (where proposed) as cohort_proposed,
        count(*) filter (where approved) as cohort_approved,
        count(*) filter (where confirmed) as cohort_confirmed,
        median(days_to_visit) as cohort_median_days_to_visit,
        median(days_visit_to_proposal) as cohort_median_days_visit_to_proposal,
        round(median(days_proposal_to_approval), 1) as cohort_median_days_proposal_to_approval,
        median(days_approval_to_confirmation) as cohort_median_days_approval_to_confirmation
    from followed
    group by grouping sets ((cohort_month, county_code, township_code), (cohort_month, county_code), (cohort_month))
)

select * from final
order by cohort_month, area_level, area_code
