-- recheck_sample: one row per recipient household drawn for the random re-check of the period.
-- Strata: township x category (低保, 特困). In each stratum, households not sampled or flagged
-- within the exclusion window are ordered by md5(seed || household_id) and the first
-- ceil(rate x stratum size) are drawn. Anyone can redraw it from the seed: md5 is standard.
with eligible as (
    select household_id, township_code, category
    from means_households
    where recipient
        and household_id not in (select household_id from recently_checked)
),

ordered as (
    select
        eligible.*,
        md5(getvariable('recheck_seed') || eligible.household_id) as draw_key,
        row_number() over (partition by township_code, category
                           order by md5(getvariable('recheck_seed') || eligible.household_id)) as draw_rank,
        count(*) over (partition by township_code, category) as stratum_size
    from eligible
),

final as (
    select
        getvariable('month') as month,
        getvariable('recheck_period') as period,
        getvariable('recheck_seed') as seed,
        getvariable('recheck_rate') as rate,
        ordered.household_id,
        ordered.township_code,
        ordered.category,
        ordered.stratum_size,
        ordered.draw_rank,
        ordered.draw_key
    from ordered
    where ordered.draw_rank <= ceil(getvariable('recheck_rate') * ordered.stratum_size)
)

select * from final
