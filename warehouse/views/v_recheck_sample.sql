-- v_recheck_sample: one row per household drawn for a random re-check, with the seed, the rate,
-- the stratum (township x category), its size and the household's draw rank, so that an auditor
-- can redraw the sample: order the stratum by md5(seed || household_id).
create or replace view v_recheck_sample as
select * from {lake:_recheck/*.parquet}
order by month, township_code, category, draw_rank
