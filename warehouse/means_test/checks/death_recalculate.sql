-- check death_recalculate: one row per recipient household with a member whose death the deaths
-- delivery reports for the first time this month, whatever the date of death: the benefit must be
-- recalculated for the members still living. Still listed next month, it is 应退
-- (deceased_or_missing_counted).
with died as (
    select household_id,
           string_agg(format('{}于{}死亡（死亡人口信息，{}报送）', name, died_on, death_delivered), '；'
                      order by id_number) as detail,
           flatten(list(source_refs order by id_number)) as source_refs
    from means_members
    where death_delivered = getvariable('month')
    group by household_id
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'death_recalculate' as check_id,
        '核实' as direction,
        format('{}。家庭在保人口{}人，现有在世成员{}人，月救助金额合计{}元。请重新核定保障人数和救助金额。',
               died.detail, households.listed, households.counted, households.monthly_benefit) as evidence,
        died.source_refs
    from means_households as households
    inner join died on households.household_id = died.household_id
    where households.recipient
)

select * from final
