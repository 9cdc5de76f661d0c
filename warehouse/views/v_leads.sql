-- v_leads: one row per household and month where a warning rule fired.
-- pushed = on the township's list as the case lead_id (a new case, or the open case of the household it
-- stands on: v_cases), ranked on its sheet, with the date the list was issued and the case's visit deadline
-- (rules/outcomes/deadlines.yaml); a lead covered by a recently closed case (same or fewer rules, no worse
-- colour) is kept with suppressed_by; one whose rules all wait for need and find none (visit: need,
-- rules/warnings/) is kept, not pushed, with held_reason. status: 已回传 once a home-visit outcome came back.
-- queued: a pushed lead its township had no capacity for this month (jobs/cases/capacity.py): not on the list, no
-- issue date or deadline, its place in the queue in queue_rank; status 排队待下发.
create or replace view v_leads as
with leads as (
    select * from {lake:_leads/*.parquet}
    union all by name  -- months built before issue 30 have no held_reason, queued, queue_rank
    select cast(null as varchar) as held_reason, cast(null as boolean) as queued,
           cast(null as uinteger) as queue_rank
    where false
),

outcomes as (
    select lead_id, min(visited_on) as visited_on, last(outcome order by visited_on, month, source_file, source_row) as outcome
    from lake_outcomes
    group by lead_id
),

final as (
    select
        leads.month,
        leads.lead_id,
        leads.household_id,
        leads.division_code,
        leads.township_code,
        leads.county_code,
        leads.category,
        leads.level,
        leads.urgency,
        array_to_string(leads.rule_ids, ',') as rule_ids,
        leads.reasons,
        leads.recommended_action,
        leads.hardship_score,
        leads.hardship_level,
        leads.rank,
        leads.pushed,
        leads.issued_on,
        leads.visit_by,
        leads.suppressed_by,
        leads.held_reason,
        coalesce(leads.queued, false) as queued,
        leads.queue_rank,
        case
            when outcomes.lead_id is not null then '已回传'
            when leads.queued then '排队待下发'
            when leads.pushed then '待核查'
            else '已推送未升级'
        end as status,
        outcomes.outcome,
        leads.rule_version,
        leads.run_id
    from leads
    left join outcomes
        on leads.lead_id = outcomes.lead_id
)

select * from final
order by month, township_code, rank, lead_id
