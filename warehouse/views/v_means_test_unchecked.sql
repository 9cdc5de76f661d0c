-- v_means_test_unchecked: one row per household the means test could not check, with the reason
-- (for example no dibao standard for its county at that date). Never read as "passed".
create or replace view v_means_test_unchecked as
select * from {lake:_unchecked/*.parquet}
order by month, household_id
