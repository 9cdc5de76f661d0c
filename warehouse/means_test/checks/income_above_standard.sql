-- check income_above_standard: one row per recipient household whose per-capita monthly income
-- (counted members only) is above the dibao standard of its place and date. A member registered in
-- another prefecture of the province is marked （跨市）.
with flagged as (
    select * from means_households
    where recipient and dibao_standard is not null and per_capita_income > dibao_standard
),

evidence as (
    select household_id, flatten(list(source_refs order by id_number)) as source_refs,
           string_agg(format('{}（{}）{}月收入{}元', name, relation, elsewhere_mark(registered_elsewhere), round(income, 2)), '；' order by income desc, id_number) as detail
    from means_members
    where counted and household_id in (select household_id from flagged)
    group by household_id
),

final as (
    select
        getvariable('month') as month,
        flagged.household_id,
        flagged.township_code,
        'income_above_standard' as check_id,
        '应退' as direction,
        format('家庭人均月收入{}元，高于当地低保标准{}元（共同生活成员{}人：{}）。收入取申报收入、就业登记工资、'
               || '城镇职工社保缴费基数、公积金推算工资之高者，低保金等救助不计入。',
               round(flagged.per_capita_income, 2), flagged.dibao_standard, flagged.counted, evidence.detail) as evidence,
        evidence.source_refs
    from flagged
    inner join evidence on flagged.household_id = evidence.household_id
)

select * from final
