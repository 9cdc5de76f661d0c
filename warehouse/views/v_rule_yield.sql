-- v_rule_yield: one row per month and warning rule: as of that month, over the lead cases first issued
-- in the {kpi_months} months up to it (rules/outcomes/cases.yaml; a queued lead counts once issued), leads
-- carrying the rule, visited (an outcome came back by then: a case counts once, by its latest closing
-- row as of the month, so a correction (更正) replaces what it corrected; a case open as of the month,
-- reopened by a correction, counts as not visited), helpful (the outcome brought assistance or a referral: {yield_outcomes})
-- and yield = helpful / visited, credited to every rule a lead carried; the *_alone columns count only
-- leads on which the rule fired alone. A month's rows never change when later months are loaded. A rule
-- removed from rules/ keeps its rows: the rule ids are read from the cases, not the rules. Carried through
-- to assistance that arrived (issue 36): assisted = visited leads with a decision of a kind that is
-- assistance ({assistance_kinds}: not 退出) the roster confirmed
-- (已落实, `_decision_states`) as of the month, assisted_yield = assisted / visited.
create or replace view v_rule_yield as
with cases as (
    select month, case_id, first_month, state, outcome, rule_ids
    from {lake:_cases/*.parquet}
    where kind = 'lead'
),

months as (
    select distinct
        month,
        strftime(strptime(month || '-01', '%Y-%m-%d') - to_months({kpi_months} - 1), '%Y-%m') as window_start
    from cases
),

closed as (
    select month as closed_month, case_id, first_month, outcome, rule_ids
    from cases
    where state = 'closed'
),

latest_closed as (
    -- each case closed by the month, by its latest closing row (a correction's, once read)
    select months.month, months.window_start, closed.case_id, closed.first_month, closed.rule_ids,
        closed.outcome
    from months
    inner join closed
        on closed.closed_month <= months.month
    qualify row_number() over (
        partition by months.month, closed.case_id order by closed.closed_month desc
    ) = 1
),

as_of as (
    -- open as of the month: its row of that month; closed by then and not open: its latest closing row
    select months.month, months.window_start, cases.case_id, cases.first_month, cases.rule_ids,
        false as visited, cast(null as varchar) as outcome
    from months
    inner join cases
        on cases.month = months.month and cases.state not in ('closed', 'queued')
    union all
    select month, window_start, case_id, first_month, rule_ids, true as visited, outcome
    from latest_closed
    where not exists (
        select 1 from cases
        where cases.month = latest_closed.month
            and cases.case_id = latest_closed.case_id
            and cases.state != 'closed'
    )
),

confirmed as (
    -- the cases with a decision the roster confirmed, as of each month
    select distinct states.month, states.case_id
    from (
        select * from {lake?:_decision_states/*.parquet}
        union all by name  -- months built before issue 36 have none
        select cast(null as varchar) as month, cast(null as varchar) as case_id, cast(null as varchar) as state,
            cast(null as varchar) as kind
        where false
    ) as states
    where states.state = '已落实' and states.kind in {assistance_kinds}  -- 退出 is no assistance
),

per_rule as (
    select
        as_of.month,
        as_of.window_start,
        unnest(as_of.rule_ids) as rule_id,
        len(as_of.rule_ids) = 1 as alone,
        as_of.visited,
        as_of.visited and as_of.outcome in {yield_outcomes} as helpful,
        as_of.visited and confirmed.case_id is not null as assisted
    from as_of
    left join confirmed
        on confirmed.month = as_of.month and confirmed.case_id = as_of.case_id
    where as_of.first_month >= as_of.window_start
),

final as (
    select
        month,
        rule_id,
        any_value(window_start) as first_month,
        count(*) as leads,
        count(*) filter (where visited) as visited,
        count(*) filter (where helpful) as helpful,
        round(count(*) filter (where helpful) / nullif(count(*) filter (where visited), 0), 4) as yield,
        count(*) filter (where alone) as leads_alone,
        count(*) filter (where alone and visited) as visited_alone,
        count(*) filter (where alone and helpful) as helpful_alone,
        round(
            count(*) filter (where alone and helpful) / nullif(count(*) filter (where alone and visited), 0), 4
        ) as yield_alone,
        count(*) filter (where assisted) as assisted,
        round(count(*) filter (where assisted) / nullif(count(*) filter (where visited), 0), 4) as assisted_yield
    from per_rule
    group by month, rule_id
)

select * from final
order by month, rule_id
