-- check eligible_not_covered: one row per monitored household that is not on dibao or te kun but
-- whose income and assets are within the limits (应保尽保): a candidate for dibao, for dibao as a
-- household in hardship from rigid expenditure (刚性支出困难: income above the standard, but below it
-- once its medical and schooling costs a month are taken, means_households.income_after_rigid_per_capita),
-- near-dibao (below 1.5x the standard, before or after rigid expenditure), or,
-- in a family of a category that allows it, single-person dibao (单人保) for a living member who
-- meets is_single_person_candidate (00_concepts.sql, rules/parameters/population.yaml).
-- `candidate_for` says which; the monthly run keeps the contract's columns, an application check reads it.
with grades as (
    select id_number, min(grade) as grade
    from lake_disability
    where month = getvariable('month')
    group by id_number
),

single_person as (
    select r.household_id, string_agg(r.name, '、' order by r.id_number) as names,
           list(r.month || '/' || r.source_file || ':' || r.source_row order by r.id_number) as source_refs
    from lake_roster as r
    inner join means_members as m on m.household_id = r.household_id and m.id_number = r.id_number
    left join grades as d on d.id_number = r.id_number
    where r.month = getvariable('month') and m.counted
        and list_contains(getvariable('single_person_categories'), r.category)
        and is_single_person_candidate(age_on(r.id_number, getvariable('month_end')), r.labour_capacity,
                                       r.health_status, d.grade)
    group by r.household_id
),

candidates as (
    select
        households.*,
        coalesce(assets.deposits, 0) as deposits,
        case
            when households.per_capita_income < households.dibao_standard then '低保'
            when households.income_after_rigid_per_capita < households.dibao_standard then '刚性支出困难'
            when least(households.per_capita_income, households.income_after_rigid_per_capita)
                     < households.dibao_standard * getvariable('near_dibao_factor')
                 and households.category != '低保边缘' then '低保边缘'
            when single_person.household_id is not null then '单人保'
        end as candidate_for,
        single_person.names as single_person_names,
        single_person.source_refs as single_person_refs
    from means_households as households
    left join means_assets as assets on households.household_id = assets.household_id
    left join single_person on households.household_id = single_person.household_id
    where not households.recipient
        and households.dibao_standard is not null
        and households.counted > 0
        and coalesce(assets.deposits, 0) / households.counted
            <= households.dibao_standard * getvariable('financial_assets_months')
        and coalesce(assets.homes, 0) <= getvariable('max_homes') and coalesce(assets.non_residential, 0) = 0
        and coalesce(assets.cars, 0) = 0 and coalesce(assets.entities, 0) = 0
),

final as (
    select
        getvariable('month') as month,
        candidates.household_id,
        candidates.township_code,
        'eligible_not_covered' as check_id,
        '应保' as direction,
        case candidates.candidate_for
            when '单人保' then format('{}家庭中{}为重度残疾的劳动年龄人员，或无劳动能力且患大病或重度残疾的老年人（名册、残联登记），'
                                    || '可评估单独纳入低保（单人保）。',
                                    candidates.category, candidates.single_person_names)
            else format('当前类别为{}，家庭人均月收入{}元{}，低于当地低保标准{}元{}；金融资产人均{}元，未见多套房、汽车、'
                        || '非个体市场主体。建议评估纳入{}。',
                        candidates.category, round(candidates.per_capita_income, 2),
                        case when candidates.rigid_expenditure_month > 0
                            then format('，扣除刚性支出（月均{}元：医疗自付扣除医疗救助，依据近{}个月医保结算；'
                                        || '在读学生学费住宿费扣除教育资助）后为{}元',
                                        round(candidates.rigid_expenditure_month, 2), candidates.rigid_months,
                                        round(candidates.income_after_rigid_per_capita, 2))
                            else '' end,
                        candidates.dibao_standard,
                        case when candidates.candidate_for = '低保边缘'
                            then format('的{}倍（{}元）', getvariable('near_dibao_factor'),
                                        candidates.dibao_standard * getvariable('near_dibao_factor')) else '' end,
                        round(candidates.deposits / candidates.counted, 2),
                        case candidates.candidate_for when '刚性支出困难' then '低保（刚性支出困难）'
                            else candidates.candidate_for end)
        end as evidence,
        coalesce(candidates.single_person_refs, members.source_refs) as source_refs,
        candidates.candidate_for  -- 低保, 刚性支出困难, 低保边缘 or 单人保: what an application check answers
    from candidates
    inner join (
        select household_id, flatten(list(source_refs order by id_number)) as source_refs
        from means_members
        where household_id in (select household_id from candidates where candidate_for is not null)
        group by household_id
    ) as members on candidates.household_id = members.household_id
    where candidates.candidate_for is not null
)

select * from final
