-- v_application_members: the members of every application checked, as they were checked (full ID
-- numbers, the roster's columns), with the check's id, time, result and month of data. Only checks
-- the log records: a check stopped before its log line was written is not one.
create or replace view v_application_members as
select
    members.application_id,
    cast(members.checked_at as timestamptz) as checked_at,
    members.household_id,
    members.id_number,
    members.name,
    members.relation,
    members.division_code,
    members.result,
    members.month_used,
    members.source_file,
    members.source_row
from {application_members} as members
where members.application_id in (select log.application_id from {application_log} as log where log.status = 'checked')
order by checked_at, application_id, source_row
