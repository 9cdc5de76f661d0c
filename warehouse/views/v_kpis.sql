-- v_kpis: one row per month and area (a township, a county, the province) and kind of case (lead,
-- doubtful, recheck, or all): what townships were given and what came back (from v_cases).
-- pushed = cases issued for the first time; listed = open cases on the month's lists; visited = cases
-- an outcome closed this month, by outcome; overdue and expired = open cases past their deadline or past
-- the open limit; escalated_to_county = urgent overdue leads; median_days_to_visit from the first issue to
-- the visit, of the cases closed this month.
create or replace view v_kpis as
with cases as (
    select * from {lake:_cases/*.parquet}
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
        coalesce(kind, 'all') as kind,
        count(*) filter (where state = 'new') as pushed,
        count(*) filter (where state <> 'closed') as listed,
        count(*) filter (where state = 'closed') as visited,
        count(*) filter (where outcome = '纳入低保') as enrolled_dibao,
        count(*) filter (where outcome = '纳入特困') as enrolled_tekun,
        count(*) filter (where outcome = '纳入低保边缘') as enrolled_near_dibao,
        count(*) filter (where outcome = '临时救助') as temporary_assistance,
        count(*) filter (where outcome = '转介') as referred,
        count(*) filter (where outcome = '维持现状') as unchanged,
        count(*) filter (where outcome = '退出') as exited,
        count(*) filter (where outcome = '不符合条件') as not_eligible,
        count(*) filter (where outcome = '无法核实') as unverifiable,
        count(*) filter (where state = 'overdue') as overdue,
        count(*) filter (where state = 'expired') as expired,
        count(*) filter (where escalated_to_county) as escalated_to_county,
        median(days_open) filter (where state = 'closed') as median_days_to_visit,
        count(*) filter (where state = 'closed' and visited_on <= visit_by) as visited_on_time
    from cases
    group by grouping sets (
        (month, county_code, township_code, kind),
        (month, county_code, township_code),
        (month, county_code, kind),
        (month, county_code),
        (month, kind),
        (month)
    )
),

final as (
    select * from counted
)

select * from final
order by month, area_level, area_code, kind
