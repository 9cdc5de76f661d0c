-- v_check_yield: one row per month and means-test check: as of that month, over the doubtful-record
-- cases first issued in the {kpi_months} months up to it (rules/outcomes/cases.yaml; a queued record
-- counts once issued), records, visited (an outcome came back by then: a case counts once, by its latest
-- closing row as of the month; a case reopened by a correction and open as of the month is not visited), helpful (an 应保 record: the
-- outcome brought assistance or a referral, {yield_outcomes}; an 应退 or 核实 record: {withdraw_outcomes})
-- and yield = helpful / visited. What jobs/cases/capacity.py ranks records by once a check has enough visits,
-- as v_rule_yield does for leads. A month's rows never change when later months are loaded.
create or replace view v_check_yield as
with cases as (
    select month, case_id, first_month, state, outcome, check_id, direction
    from {lake:_cases/*.parquet}
    where kind = 'doubtful'
),

months as (
    select distinct
        month,
        strftime(strptime(month || '-01', '%Y-%m-%d') - to_months({kpi_months} - 1), '%Y-%m') as window_start
    from cases
),

latest_closed as (
    -- each case closed by the month, by its latest closing row (a correction's, once read)
    select months.month, months.window_start, cases.case_id, cases.first_month, cases.check_id,
        cases.direction, cases.outcome
    from months
    inner join cases
        on cases.state = 'closed' and cases.month <= months.month
    qualify row_number() over (partition by months.month, cases.case_id order by cases.month desc) = 1
),

as_of as (
    -- open as of the month: its row of that month; closed by then and not open: its latest closing row
    select months.month, months.window_start, cases.first_month, cases.check_id, cases.direction,
        false as visited, cast(null as varchar) as outcome
    from months
    inner join cases
        on cases.month = months.month and cases.state not in ('closed', 'queued')
    union all
    select month, window_start, first_month, check_id, direction, true as visited, outcome
    from latest_closed
    where not exists (
        select 1 from cases
        where cases.month = latest_closed.month
            and cases.case_id = latest_closed.case_id
            and cases.state != 'closed'
    )
),

final as (
    select
        month,
        check_id,
        any_value(direction) as direction,
        any_value(window_start) as first_month,
        count(*) as records,
        count(*) filter (where visited) as visited,
        count(*) filter (
            where visited and (
                direction = '应保' and outcome in {yield_outcomes}
                or direction != '应保' and outcome in {withdraw_outcomes}
            )
        ) as helpful
    from as_of
    where first_month >= window_start
    group by month, check_id
)

select *, round(helpful / nullif(visited, 0), 4) as yield
from final
order by month, check_id
