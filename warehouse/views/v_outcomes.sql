-- v_outcomes: one row per home-visit outcome returned by a township (source `outcomes`), for a lead
-- or (contract version 2) a doubtful record or re-check row; kind says which. days_to_visit counts
-- from the day the list carrying the id was first issued; on_time compares with its deadline.
-- upload_sha256 names the portal upload the row came from (null when delivered another way).
-- A row read in a later month than an earlier row of its id, and saying something else, is a
-- correction (更正, is_correction) of the latest row of the months before (corrects_*); a row with a
-- later row for its id is superseded. Both stay: the original and its correction.
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
    select lead_id, month, outcome, visited_on, referred_to, note, source_file, source_row
    from outcomes
    qualify row_number() over (
        partition by lead_id, month order by visited_on desc, source_file desc, source_row desc
    ) = 1
),

corrected as (
    select
        outcomes.lead_id,
        outcomes.n,
        earlier.outcome as corrects_outcome,
        earlier.source_file as corrects_source_file,
        earlier.source_row as corrects_source_row,
        (outcomes.outcome, outcomes.visited_on, outcomes.referred_to, outcomes.note)
            is distinct from (earlier.outcome, earlier.visited_on, earlier.referred_to, earlier.note)
            as differs
    from outcomes
    asof inner join month_last as earlier
        on outcomes.lead_id = earlier.lead_id
        and outcomes.month > earlier.month
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
        coalesce(corrected.differs, false) as is_correction,
        outcomes.n < outcomes.rows_of_id as superseded,
        case when corrected.differs then corrected.corrects_outcome end as corrects_outcome,
        case when corrected.differs then corrected.corrects_source_file end as corrects_source_file,
        case when corrected.differs then corrected.corrects_source_row end as corrects_source_row
    from outcomes
    left join issued
        on outcomes.lead_id = issued.id
    left join corrected
        on outcomes.lead_id = corrected.lead_id
        and outcomes.n = corrected.n
)

select * from final
order by month, lead_id, visited_on
