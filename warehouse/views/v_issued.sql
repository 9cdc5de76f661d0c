-- v_issued: every id a township was given to return a home-visit outcome for: pushed leads (lead),
-- doubtful records (doubtful) and the random re-check sample (recheck), with the month of the list,
-- the day it was issued and the visit deadline: every open case of the month (v_cases), a standing one
-- under the id it was first issued with.
create or replace view v_issued as
select month, id, kind, household_id, township_code, issued_on, visit_by
from {lake:_issued/*.parquet}
order by month, township_code, kind, id
