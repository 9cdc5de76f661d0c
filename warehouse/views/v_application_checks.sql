-- v_application_checks: every application check (逢救必核) and every refused application, one row
-- each: who asked (account, role, client address), for which township and household, the signed
-- authorisation's reference, the assistance applied for, the month of data used and its build, the
-- result, and the SHA-256 of the file received and of the report given back (the report and the
-- members as checked are under lake/<report_file>, v_application_members).
-- Appended by jobs/applications.py to lake/_applications/log/<YYYY-MM>.jsonl; never rewritten.
create or replace view v_application_checks as
select
    cast(log."at" as timestamptz) as "at",
    log.application_id,
    log.status,
    log.account,
    log.role,
    log.township_code,
    left(log.township_code, 6) as county_code,
    log.household_id,
    log.authorisation_ref,
    log.applied_for,
    log.members,
    log.member_ids,
    log.month_used,
    log.build,
    log.result,
    log.detail,
    log.file,
    log.file_sha256,
    log.report_file,
    log.report_sha256,
    log.client_address
from {application_log} as log
order by "at", application_id
