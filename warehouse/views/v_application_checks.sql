-- v_application_checks: every application check (逢救必核) and every refused application, one row
-- each: who asked (account, role, client address), for which township and household, the signed
-- authorisation's reference, the assistance applied for, the month of data used and its build, the
-- result, and the SHA-256 of the file received and of the report given back (the report and the
-- members as checked are under lake/<report_file>, v_application_members). Each names the signed
-- authorisation uploaded with it (授权书, kept once under its SHA-256 as lake/<authorisation_file>),
-- the office (the account's area) with its count of checks that day and the day's threshold
-- (rules/portal/portal.yaml), and, for a check held for the county's release (status `held`:
-- a member on another township's roster, or the office above its threshold), why (held_for,
-- held_reason); a released check is logged again as `checked` with released_by and released_at.
-- Appended by jobs/applications/checks.py to lake/_applications/log/<YYYY-MM>.jsonl; never rewritten.
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
    log.client_address,
    log.authorisation_sha256,
    log.authorisation_file,
    log.office,
    log.day_count,
    log.day_threshold,
    log.held_for,
    log.held_reason,
    log.held_file,
    log.released_by,
    cast(log.released_at as timestamptz) as released_at
from {application_log} as log
order by "at", application_id
