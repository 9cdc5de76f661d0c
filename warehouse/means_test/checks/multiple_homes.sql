-- check multiple_homes: one row per recipient household whose members own more than max_homes
-- homes, or any shop, office, industrial unit or parking space. A flag for a home visit, not a verdict.
with properties as (
    select members.household_id,
           count(distinct e.property_id) filter (where e.usage = '住宅') as homes,
           count(distinct e.property_id) filter (where list_contains(getvariable('non_residential_usages'), e.usage))
               as non_residential,
           string_agg(format('{}（{}，{}平方米{}）', e.property_id, e.usage, e.area,
                             case when e.area <= 0 then '，面积为0，登记数据异常' else '' end), '、') as detail,
           list(e.month || '/' || e.source_file || ':' || e.source_row) as source_refs
    from lake_real_estate as e
    inner join means_members as members on e.id_number = members.id_number
    where e.month = getvariable('month')
    group by members.household_id
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'multiple_homes' as check_id,
        '核实' as direction,
        format('家庭成员名下住宅{}套、非住宅用房{}套：{}（不动产登记）。此为核实线索，不是结论：请入户核实房屋实际用途、'
               || '是否出租及收入。', properties.homes, properties.non_residential, properties.detail) as evidence,
        properties.source_refs
    from means_households as households
    inner join properties on households.household_id = properties.household_id
    where households.recipient
        and (properties.homes > getvariable('max_homes') or properties.non_residential > 0)
)

select * from final
