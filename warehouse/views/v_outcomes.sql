-- v_outcomes: one row per home-visit outcome returned by a township (source `outcomes`), for a lead
-- or (contract version 2) a doubtful record or re-check row; kind says which. days_to_visit counts
-- from the day the list carrying the id was first issued; on_time compares with its deadline.
-- upload_sha256 names the portal upload the row came from (null when delivered another way).
create or replace view v_outcomes as
with outcomes as (
    select * from lake_outcomes
),

issued as (
    select
        id,
        min(month) as lead_month,
        arg_min(kind, month) as kind,
        arg_min(township_code, month) as township_code,
        min(issued_on) as issued_on,
        arg_min(visit_by, month) as visit_by
    from {lake:_issued/*.parquet}
    group by id
),

final as (
    select
        outcomes.lead_id,
        outcomes.month,
        outcomes.outcome,
        outcomes.visited_on,
        outcomes.referred_to,
        outcomes.note,
        issued.kind,
        issued.township_code,
        issued.lead_month,
        datediff('day', issued.issued_on, outcomes.visited_on) as days_to_visit,
        outcomes.visited_on <= issued.visit_by as on_time,
        outcomes.upload_sha256,
        outcomes.source_file,
        outcomes.source_row
    from outcomes
    left join issued
        on outcomes.lead_id = issued.id
)

select * from final
order by month, lead_id, visited_on
