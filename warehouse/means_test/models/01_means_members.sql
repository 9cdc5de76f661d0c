-- means_members: one row per person on the month's roster, with the evidence of their income.
-- Income counted = the highest of: declared income, the wage of a 就业 registration in the last
-- 12 months, the 城镇职工 contribution base (a wage proxy) when above the minimum base (缴费基数下限)
-- of the member's division in force in the month (rules/parameters/social_insurance_minimum_base.yaml:
-- a base at the minimum, e.g. self-paid flexible employment, says nothing of a wage; the 核实 check
-- still lists it), and the wage implied by housing-fund deposits (deposit / housing_fund_wage_share).
-- Help from the state (低保金, 医疗救助, 教育资助) is not counted. A member who died or was declared missing by the month's end is not counted;
-- `death_delivered` and `missing_delivered` are the months the deaths and missing-persons deliveries
-- first reported it (a death is acted on when it is known).
-- `registered_elsewhere`: 跨省 when the member's household registration (hukou_division_code) lies in
-- another province than where the household lives (the first two digits of its division code: the
-- monitoring province, as every roster code is a division in force), 跨市 in another prefecture
-- (first four digits) of the province, else null (CONTRACT.md, "Cross-region checks").
create or replace temp table means_members as
with roster as (
    select * from lake_roster where month = getvariable('month')
),

-- each roster row's minimum base: the first (longest) division prefix its code starts with
roster_minimum_bases as (
    select *,
           getvariable('minimum_base_values')[
               list_position(list_transform(getvariable('minimum_base_prefixes'),
                                            lambda prefix: starts_with(division_code, prefix)), true)
           ] as minimum_base
    from roster
),

deaths as (
    select id_number, min(died_on) as died_on, min(month) as delivered,
           arg_min(month || '/' || source_file || ':' || source_row, died_on) as ref
    from lake_deaths
    where died_on <= getvariable('month_end')
    group by id_number
),

missing as (
    select id_number, min(declared_on) as declared_on, min(month) as delivered,
           arg_min(month || '/' || source_file || ':' || source_row, declared_on) as ref
    from lake_missing_persons
    where declared_on <= getvariable('month_end')
    group by id_number
),

wages as (
    select id_number, arg_max(monthly_wage, registered_on) as monthly_wage, max(registered_on) as registered_on,
           arg_max(month || '/' || source_file || ':' || source_row, registered_on) as ref
    from lake_employment
    where status = '就业'
        and monthly_wage is not null
        and registered_on between getvariable('window_start') and getvariable('month_end')
    group by id_number
),

insurance as (
    select id_number, max(contribution_base) as contribution_base,
           min(month || '/' || source_file || ':' || source_row) as ref
    from lake_social_insurance
    where month = getvariable('month') and scheme = '城镇职工'
    group by id_number
),

fund as (
    select id_number, sum(monthly_deposit) as monthly_deposit,
           min(month || '/' || source_file || ':' || source_row) as ref
    from lake_housing_fund
    where month = getvariable('month') and status = '正常'
    group by id_number
),

-- the contribution base counted as a wage: above the member's minimum base (or no minimum in force)
members as (
    select
        roster.*,
        insurance.contribution_base,
        insurance.contribution_base <= roster.minimum_base as at_minimum_base,
        case when insurance.contribution_base > coalesce(roster.minimum_base, 0)
            then insurance.contribution_base end as counted_contribution_base,
        insurance.ref as insurance_ref
    from roster_minimum_bases as roster
    left join insurance on roster.id_number = insurance.id_number
),

final as (
    select
        members.household_id,
        members.id_number,
        members.name,
        members.relation,
        members.category,
        members.division_code,
        members.hukou_division_code,
        case when substr(members.hukou_division_code, 1, 2) <> substr(members.division_code, 1, 2) then '跨省'
             when substr(members.hukou_division_code, 1, 4) <> substr(members.division_code, 1, 4) then '跨市'
        end as registered_elsewhere,
        coalesce(members.monthly_benefit, 0) as monthly_benefit,
        coalesce(members.declared_monthly_income, 0) as declared_income,
        wages.monthly_wage as employment_wage,
        members.contribution_base,
        members.minimum_base,
        members.at_minimum_base,
        fund.monthly_deposit as housing_fund_deposit,
        fund.monthly_deposit / getvariable('housing_fund_wage_share') as housing_fund_wage,
        deaths.died_on,
        deaths.delivered as death_delivered,
        missing.declared_on as missing_declared_on,
        missing.delivered as missing_delivered,
        deaths.died_on is null and missing.declared_on is null as counted,
        greatest(
            coalesce(members.declared_monthly_income, 0), coalesce(wages.monthly_wage, 0),
            coalesce(members.counted_contribution_base, 0),
            coalesce(fund.monthly_deposit / getvariable('housing_fund_wage_share'), 0)
        ) as income,
        list_filter(
            [members.month || '/' || members.source_file || ':' || members.source_row, wages.ref, members.insurance_ref, fund.ref,
             deaths.ref, missing.ref],
            lambda x: x is not null
        ) as source_refs
    from members
    left join deaths on members.id_number = deaths.id_number
    left join missing on members.id_number = missing.id_number
    left join wages on members.id_number = wages.id_number
    left join fund on members.id_number = fund.id_number
)

select * from final
