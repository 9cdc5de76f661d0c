-- v_household_month: one row per monitored household and month, with its hardship index.
-- Points per indicator (points_*) and fired rules (fired_*) are in lake_household_month.
create or replace view v_household_month as
with household_month as (
    select * from {lake:_household_month/data.parquet}
),

final as (
    select
        household_month.month,
        household_month.household_id,
        household_month.division_code,
        household_month.township_code,
        household_month.county_code,
        household_month.category,
        household_month.residence_type,
        household_month.members,
        household_month.hardship_score,
        household_month.hardship_level,
        household_month.top_factors,
        household_month.incomplete_dimensions,
        household_month.missing_sources,
        household_month.declared_income_per_capita as per_capita_income,
        household_month.dibao_standard,
        household_month.dim_family_population,
        household_month.dim_health,
        household_month.dim_education,
        household_month.dim_employment,
        household_month.dim_income_property,
        household_month.dim_living,
        household_month.dim_disasters_accidents,
        household_month.dim_assistance,
        household_month.rule_version,
        household_month.run_id
    from household_month
)

select * from final
order by month, household_id
