-- v_outcomes: one row per home-visit outcome returned by a township (source `outcomes`), for a lead
-- or (contract version 2) a doubtful record or re-check row; kind says which. days_to_visit counts
-- from the day the list carrying the id was first issued; on_time compares with its deadline.
-- upload_sha256 names the portal upload the row came from (null when delivered another way).
-- A correction (更正, is_correction) is the row a month's run followed for an id whose case was closed
-- before that month and whose conclusion, date or referral it changed (a note alone changes nothing):
-- the lifecycle decides it once (jobs/cases/lifecycle.py `CORRECTED`) and marks the case in `_cases`
-- (corrects_outcome); the row it corrects is the latest row of the months before (corrects_*). A
-- reopened case's next outcome closes an open case: no correction. A row with a later row for its id
-- is superseded. Both stay: the original and its correction.
create or replace view v_outcomes as
with outcomes as (
    select
        *,
        row_number() over (partition by lead_id order by month, visited_on, source_file, source_row) as n,
        count(*) over (partition by lead_id) as rows_of_id
    from lake_outcomes
),

month_last as (
    -- the row of each id and month that the month's run followed (the latest visit)
    select lead_id, month, n, source_file, source_row
    from outcomes
    qualify row_number() over (
        partition by lead_id, month order by visited_on desc, source_file desc, source_row desc
    ) = 1
),

marks as (
    -- the cases each month's run read a correction for (months built before the mark have none)
    select case_id, month, corrects_outcome
    from (
        select * from {lake?:_cases/*.parquet}
        union all by name
        select
            cast(null as varchar) as case_id,
            cast(null as varchar) as month,
            cast(null as varchar) as corrects_outcome
        where false
    )
    where corrects_outcome is not null
),

corrected as (
    select
        month_last.lead_id,
        month_last.n,
        marks.corrects_outcome,
        earlier.source_file as corrects_source_file,
        earlier.source_row as corrects_source_row
    from month_last
    inner join marks
        on month_last.lead_id = marks.case_id
        and month_last.month = marks.month
    asof left join month_last as earlier
        on month_last.lead_id = earlier.lead_id
        and month_last.month > earlier.month
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
        outcomes.source_row,
        corrected.n is not null as is_correction,
        outcomes.n < outcomes.rows_of_id as superseded,
        corrected.corrects_outcome,
        corrected.corrects_source_file,
        corrected.corrects_source_row
    from outcomes
    left join issued
        on outcomes.lead_id = issued.id
    left join corrected
        on outcomes.lead_id = corrected.lead_id
        and outcomes.n = corrected.n
)

select * from final
order by month, lead_id, visited_on
