-- v_rule_yield: one row per warning rule, over the lead cases first issued in the last {kpi_months}
-- published months (rules/outcomes/cases.yaml): leads carrying the rule, visited (an outcome came back),
-- helpful (the outcome brought assistance or a referral: {yield_outcomes}) and yield = helpful / visited,
-- credited to every rule a lead carried; the *_alone columns count only leads on which the rule fired
-- alone. A rule removed from rules/ keeps its row: the rule ids are read from the cases, not the rules.
create or replace view v_rule_yield as
with cases as (
    select * from {lake:_cases/data.parquet}
),

months as (
    select distinct month from cases order by month desc limit {kpi_months}
),

latest as (
    select case_id, arg_max(rule_ids, month) as rule_ids, max(month) as last_month,
        bool_or(state = 'closed') as visited,
        arg_max(outcome, outcome is not null) as outcome
    from cases
    where kind = 'lead' and first_month in (select month from months)
    group by case_id
),

per_rule as (
    select
        unnest(rule_ids) as rule_id,
        len(rule_ids) = 1 as alone,
        visited,
        visited and outcome in {yield_outcomes} as helpful
    from latest
),

final as (
    select
        rule_id,
        (select min(month) from months) as first_month,
        (select max(month) from months) as last_month,
        count(*) as leads,
        count(*) filter (where visited) as visited,
        count(*) filter (where helpful) as helpful,
        round(count(*) filter (where helpful) / nullif(count(*) filter (where visited), 0), 4) as yield,
        count(*) filter (where alone) as leads_alone,
        count(*) filter (where alone and visited) as visited_alone,
        count(*) filter (where alone and helpful) as helpful_alone,
        round(
            count(*) filter (where alone and helpful) / nullif(count(*) filter (where alone and visited), 0), 4
        ) as yield_alone
    from per_rule
    group by rule_id
)

select * from final
order by rule_id
