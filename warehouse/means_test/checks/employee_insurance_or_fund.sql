-- check employee_insurance_or_fund: one row per recipient household with a member paying employee
-- social insurance (城镇职工) or housing-fund deposits: evidence of a formal job and wage. A base at
-- or below the minimum (缴费基数下限, e.g. self-paid flexible employment) is listed, said to be no
-- evidence of a wage (it is not counted as income either: 01_means_members.sql). A member registered in
-- another prefecture of the province is marked （跨市）.
with evidence_rows as (
    select household_id, id_number, name || elsewhere_mark(registered_elsewhere) as name,
           contribution_base, minimum_base, at_minimum_base, housing_fund_deposit, housing_fund_wage, source_refs
    from means_members
    where counted and (contribution_base is not null or housing_fund_deposit is not null)
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'employee_insurance_or_fund' as check_id,
        '核实' as direction,
        format('{}。请核实就业单位和实际工资是否已如实申报。',
               string_agg(
                   concat_ws('，',
                       case when e.at_minimum_base
                           then format('{}缴纳城镇职工社保，缴费基数{}元，不高于当地缴费基数下限{}元，'
                                       || '按缴费基数下限缴纳（可能为灵活就业人员自缴），不能据此认定工资收入（社保部门）',
                                       e.name, e.contribution_base, e.minimum_base)
                           when e.contribution_base is not null
                           then format('{}缴纳城镇职工社保，缴费基数{}元（社保部门）', e.name, e.contribution_base) end,
                       case when e.housing_fund_deposit is not null
                           then format('{}正常缴存住房公积金，月缴存额{}元，推算月工资约{}元（公积金中心）', e.name,
                                       e.housing_fund_deposit, round(e.housing_fund_wage, 0)) end),
                   '；' order by e.id_number)) as evidence,
        flatten(list(e.source_refs order by e.id_number)) as source_refs
    from means_households as households
    inner join evidence_rows as e on households.household_id = e.household_id
    where households.recipient
    group by households.household_id, households.township_code
)

select * from final
