-- v_cross_region_kpis: one row per month, direction (发出, 收到) and province (region; 'all' for every
-- province), from v_cross_region: what the cross-region checks came to. requests = the month's rows
-- (发出: the ledger at the month's end, every request made so far; 收到: those received in the month);
-- made_in_month = of them, made in the month; answered, pending (待回复), overdue (逾期) and refused
-- (已拒绝) by status; median_days_to_answer of the answered ones.
create or replace view v_cross_region_kpis as
with requests as (
    select * from v_cross_region
),

counted as (
    select
        month,
        direction,
        coalesce(region, 'all') as region,
        count(*) as requests,
        count(*) filter (where strftime(requested_on, '%Y-%m') = month) as made_in_month,
        count(*) filter (where status = '已回复') as answered,
        count(*) filter (where status = '待回复') as pending,
        count(*) filter (where status = '逾期') as overdue,
        count(*) filter (where status = '已拒绝') as refused,
        median(days_to_answer) as median_days_to_answer
    from requests
    group by grouping sets ((month, direction, region), (month, direction))
),

final as (
    select * from counted
)

select * from final
order by month, direction, region = 'all', region
