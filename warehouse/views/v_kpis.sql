-- v_kpis: one row per month and area (a township, a county, the province) and kind of case (lead,
-- doubtful, recheck, or all): what townships were given and what came back (from v_cases).
-- pushed = cases issued for the first time; listed = open cases on the month's lists; visited = cases
-- a visit's outcome closed this month, by outcome; corrected = corrections (更正) read this month (a
-- closed case's outcome changed, jobs/cases/lifecycle.py marks it: corrects_outcome), not visits, of
-- which reopened = the cases they reopened; overdue and expired = open cases past their deadline or
-- past the open limit; escalated_to_county = urgent overdue leads; median_days_to_visit from the first issue to the visit,
-- of the cases closed this month.
-- Capacity (jobs/cases/capacity.py, the `_capacity` ledger): issued_households = households handed a new lead
-- or doubtful record this month (one visit per household; re-check draws are outside capacity and
-- counted in pushed only); beyond_capacity = urgent households issued past the township's
-- capacity; queued and queued_households = items and households waiting (not on the lists);
-- queue_months_max and queue_months_median = months they have waited since first found. households,
-- townships and capacity are the area's (every township of the month, whatever the kind); the rates are
-- per 1,000 households on the roster and per township; townships_over_capacity = townships whose
-- households with issued work open (weighed or issued, once each) exceed their capacity (urgent
-- cases only can do that).
create or replace view v_kpis as
with cases as (
    select * from {lake:_cases/*.parquet}
    union all by name  -- months built before issue 30 have no capacity columns, before 33 no mark
    select cast(null as boolean) as beyond_capacity, cast(null as varchar) as corrects_outcome where false
),

ledger as (
    -- months built before issue 30 have no ledger: no capacity figures, the other KPIs as before
    select * from {lake?:_capacity/*.parquet}
    union all by name
    select cast(null as varchar) as month, cast(null as varchar) as township_code,
           cast(null as varchar) as county_code, cast(null as bigint) as households,
           cast(null as integer) as capacity, cast(null as bigint) as visits
    where false
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
        count(*) filter (where state not in ('closed', 'queued')) as listed,
        count(*) filter (where state = 'closed' and corrects_outcome is null) as visited,
        count(*) filter (where outcome = '纳入低保' and corrects_outcome is null) as enrolled_dibao,
        count(*) filter (where outcome = '纳入特困' and corrects_outcome is null) as enrolled_tekun,
        count(*) filter (where outcome = '纳入低保边缘' and corrects_outcome is null) as enrolled_near_dibao,
        count(*) filter (where outcome = '临时救助' and corrects_outcome is null) as temporary_assistance,
        count(*) filter (where outcome = '转介' and corrects_outcome is null) as referred,
        count(*) filter (where outcome = '维持现状' and corrects_outcome is null) as unchanged,
        count(*) filter (where outcome = '退出' and corrects_outcome is null) as exited,
        count(*) filter (where outcome = '不符合条件' and corrects_outcome is null) as not_eligible,
        count(*) filter (where outcome = '无法核实' and corrects_outcome is null) as unverifiable,
        count(*) filter (where state = 'overdue') as overdue,
        count(*) filter (where state = 'expired') as expired,
        count(*) filter (where escalated_to_county) as escalated_to_county,
        median(days_open) filter (where state = 'closed' and corrects_outcome is null)
            as median_days_to_visit,
        count(*) filter (where state = 'closed' and corrects_outcome is null and visited_on <= visit_by)
            as visited_on_time,
        count(distinct household_id) filter (where state = 'new' and kind in ('lead', 'doubtful'))
            as issued_households,
        count(distinct household_id) filter (where beyond_capacity) as beyond_capacity,
        count(*) filter (where state = 'queued') as queued,
        count(distinct household_id) filter (where state = 'queued') as queued_households,
        max(datediff('month', strptime(first_month || '-01', '%Y-%m-%d'), strptime(month || '-01', '%Y-%m-%d')))
            filter (where state = 'queued') as queue_months_max,
        median(datediff('month', strptime(first_month || '-01', '%Y-%m-%d'), strptime(month || '-01', '%Y-%m-%d')))
            filter (where state = 'queued') as queue_months_median,
        count(*) filter (where corrects_outcome is not null) as corrected,
        count(*) filter (where state = 'reopened') as reopened
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

areas as (
    select
        month,
        case
            when grouping(township_code) = 0 then 'township'
            when grouping(county_code) = 0 then 'county'
            else 'province'
        end as area_level,
        coalesce(township_code, county_code, 'all') as area_code,
        cast(sum(households) as bigint) as households,
        count(*) as townships,
        cast(sum(capacity) as bigint) as capacity,
        count(*) filter (where visits > capacity) as townships_over_capacity
    from ledger
    group by grouping sets ((month, county_code, township_code), (month, county_code), (month))
),

final as (
    select
        counted.*,
        areas.households,
        areas.townships,
        areas.capacity,
        areas.townships_over_capacity,
        round(counted.issued_households * 1000.0 / nullif(areas.households, 0), 2) as issued_per_1000_households,
        round(counted.queued_households * 1000.0 / nullif(areas.households, 0), 2) as queued_per_1000_households,
        round(counted.issued_households / nullif(areas.townships, 0), 2) as issued_per_township,
        round(counted.queued_households / nullif(areas.townships, 0), 2) as queued_per_township
    from counted
    left join areas
        on counted.month = areas.month
        and counted.area_level = areas.area_level
        and counted.area_code = areas.area_code
)

select * from final
order by month, area_level, area_code, kind
