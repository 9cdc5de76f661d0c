-- means_households: one row per household of the month's roster: counted members, income,
-- per-capita income against the dibao standard of its place and date, and its assets; and the
-- per-capita income after rigid expenditure (刚性支出困难): counted income less the household's rigid
-- expenditure a month (lake_household_month, jobs/assess/households.py rigid_figure: medical out of pocket net
-- of medical assistance averaged over the rigid_months of claims held, schooling net of education aid)
-- over counted members.
create or replace temp table means_households as
with members as (
    select
        household_id,
        count(*) as listed,
        count(*) filter (where counted) as counted,
        -- summed as decimal: exact whatever order the threads add in
        cast(sum(cast(income as decimal(18, 4))) filter (where counted) as double) as income,
        sum(monthly_benefit) as monthly_benefit,
        min(category) as category
    from means_members
    group by household_id
),

household_month as (
    select household_id, township_code, county_code, division_code, residence_type, dibao_standard,
           rigid_months, rigid_expenditure_month
    from lake_household_month
    where month = getvariable('month')
),

final as (
    select
        members.household_id,
        household_month.township_code,
        household_month.county_code,
        household_month.division_code,
        household_month.residence_type,
        members.category,
        members.listed,
        members.counted,
        members.income,
        members.monthly_benefit,
        members.income / nullif(members.counted, 0) as per_capita_income,
        household_month.rigid_months,
        household_month.rigid_expenditure_month,
        (members.income - household_month.rigid_expenditure_month) / nullif(members.counted, 0)
            as income_after_rigid_per_capita,
        household_month.dibao_standard,
        is_recipient(members.category) as recipient
    from members
    inner join household_month on members.household_id = household_month.household_id
)

select * from final
