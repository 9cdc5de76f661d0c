-- v_cases: one row per case and month, from the month a case is first issued to the month an outcome
-- closes it. A case is a pushed lead, a doubtful record or a re-check draw (kind); case_id is the id
-- the township returns in `outcomes`. state (jobs/cases/lifecycle.py): new, standing (issued before, no outcome
-- yet), escalated (a worse colour or a new rule: a fresh deadline), overdue (past visit_by without an
-- outcome: on the sheet 逾期未回传), expired (open longer than rules/outcomes/cases.yaml allows: still
-- listed), closed (the outcome came back this month: outcome, visited_on and the upload and row it came
-- from). condition_gone: the lead's rules or the record's check no longer fire, the case still waits for
-- its visit; escalated_to_county: an urgent lead overdue, on the county's view. queued (排队待下发): a new
-- lead or doubtful record its township had no capacity for this month (jobs/cases/capacity.py): not on the
-- lists, with queue_rank (1: next) and queue_reason; carried to the next month, never dropped.
-- capacity: the township's households a month; beyond_capacity: issued past it (urgent).
-- A correction (更正) of a closed case's outcome: the case reopens (reopened) or closes again with it.
create or replace view v_cases as
with cases as (
    select * from {lake:_cases/*.parquet}
    union all by name  -- months built before issue 30 have no capacity columns
    select cast(null as integer) as capacity, cast(null as boolean) as beyond_capacity,
           cast(null as uinteger) as queue_rank, cast(null as varchar) as queue_reason
    where false
),

final as (
    select
        cases.month,
        cases.case_id,
        cases.kind,
        cases.household_id,
        cases.township_code,
        cases.county_code,
        cases.state,
        cases.first_month,
        cases.first_issued_on,
        cases.issued_on,
        cases.visit_by,
        cases.days_open,
        cases.overdue,
        cases.escalated_to_county,
        cases.condition_gone,
        cases.on_roster,
        cases.changed,
        cases.sheet,
        cases.rank,
        cases.level,
        cases.urgency,
        cases.rule_ids,
        cases.reasons,
        cases.recommended_action,
        cases.check_id,
        cases.direction,
        cases.evidence,
        cases.source_refs,
        cases.outcome,
        cases.visited_on,
        cases.referred_to,
        cases.upload_sha256,
        cases.source_file,
        cases.source_row,
        cases.capacity,
        cases.beyond_capacity,
        cases.queue_rank,
        cases.queue_reason,
        cases.run_id
    from cases
)

select * from final
order by month, township_code, kind, case_id
