-- v_portal_log: the township portal's audit trail, one row per sign-in, failed sign-in, sign-out,
-- download and upload (account, township, file, SHA-256, bytes, time, client address, result).
-- Appended by the portal to lake/_portal_log/<YYYY-MM>.jsonl; never rewritten.
create or replace view v_portal_log as
select
    cast(log."at" as timestamptz) as "at",
    log.account,
    log.role,
    log.township_code,
    log.action,
    log.file,
    log.sha256,
    log.bytes,
    log.client_address,
    log.result,
    log.detail
from {portal_log} as log
order by "at", account
