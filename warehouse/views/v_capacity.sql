-- v_capacity: one row per township and month: its visiting capacity and how it was used
-- (jobs/cases/capacity.py; rules/outcomes/capacity.yaml). households on the month's roster; capacity =
-- households a month; weighed = households with work issued earlier and still open (standing,
-- escalated, overdue; not expired); issued = households handed new work this month, of them urgent,
-- and beyond_capacity = urgent ones issued past the capacity; queued = households waiting, not on the
-- lists (v_cases state queued), the longest waiting since oldest_queued; visits = households with
-- issued work open (weighed or issued, a household that joins its open work counted once), over
-- capacity when above it (urgent households only can make it so).
create or replace view v_capacity as
with ledger as (
    select * from {lake:_capacity/*.parquet}
    union all by name  -- ledgers written before `visits`
    select cast(null as bigint) as visits where false
),

final as (
    select
        ledger.month,
        ledger.township_code,
        ledger.county_code,
        ledger.households,
        ledger.capacity,
        ledger.weighed,
        ledger.issued,
        ledger.visits,
        ledger.urgent,
        ledger.beyond_capacity,
        ledger.queued,
        ledger.oldest_queued,
        ledger.visits > ledger.capacity as over_capacity,
        ledger.run_id
    from ledger
)

select * from final
order by month, township_code
