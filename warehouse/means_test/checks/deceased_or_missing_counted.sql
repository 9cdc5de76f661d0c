-- check deceased_or_missing_counted: one row per recipient household whose roster still lists a
-- member whose death or declaration as missing was delivered in an earlier month: the benefit
-- should have been recalculated (the household is paid for them). The month a death is delivered
-- it is a 核实 record (death_recalculate), not yet a roster fault.
with gone as (
    select household_id,
           string_agg(case when died_on is not null then format('{}已于{}死亡（死亡人口信息）', name, died_on)
                           else format('{}已于{}被宣告失踪（法院宣告）', name, missing_declared_on) end, '；' order by id_number) as detail,
           flatten(list(source_refs order by id_number)) as source_refs
    from means_members
    where death_delivered < getvariable('month') or died_on is null and missing_delivered < getvariable('month')
    group by household_id
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'deceased_or_missing_counted' as check_id,
        '应退' as direction,
        format('{}，仍在低保名册中，月救助金额合计{}元。请核减保障人口、调整或停发待遇。',
               gone.detail, households.monthly_benefit) as evidence,
        gone.source_refs
    from means_households as households
    inner join gone on households.household_id = gone.household_id
    where households.recipient
)

select * from final
