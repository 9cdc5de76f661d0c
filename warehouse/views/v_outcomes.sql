-- v_outcomes: one row per home-visit outcome returned by a township (source `outcomes`).
-- days_to_visit counts from the first day after the lead's month, when it was pushed.
create or replace view v_outcomes as
with outcomes as (
    select * from lake_outcomes
),

leads as (
    select lead_id, month as lead_month
    from {lake:_leads/data.parquet}
),

final as (
    select
        outcomes.lead_id,
        outcomes.month,
        outcomes.outcome,
        outcomes.visited_on,
        outcomes.referred_to,
        leads.lead_month,
        datediff('day', last_day(cast(leads.lead_month || '-01' as date)) + interval 1 day, outcomes.visited_on)
            as days_to_visit
    from outcomes
    left join leads
        on outcomes.lead_id = leads.lead_id
)

select * from final
order by month, lead_id, visited_on
