-- v_household_month: one row per monitored household and month, with its hardship index.
-- Points per indicator (points_*) and fired rules (fired_*) are in lake_household_month.
-- per_capita_income is the means test's: counted income over counted members (means_households);
-- declared_income_per_capita is the roster's declared income over all listed members (the index's).
-- members_incomplete: a member's roster row was quarantined, so the members are not all known;
-- events_unknown: sources whose new events could not be told (no earlier snapshot to compare with).
-- 刚性支出困难 (jobs/assess/households.py rigid_figure): counted_members and counted_income as the means test counts
-- them; rigid_expenditure_month = medical out of pocket net of medical assistance, averaged over the
-- rigid_months of claims the lake holds in the 12-month window, plus schooling costs by stage
-- (rules/parameters/rigid_expenditure.yaml) net of education aid; income_after_rigid_per_capita =
-- (counted_income - rigid_expenditure_month) / counted_members; income_after_rigid_ratio = that / dibao_standard.
-- An applicant household watched after its application check (not on the roster) has its
-- application_id in lake_household_month (months built before application checks have no such column).
create or replace view v_household_month as
with household_month as (
    select * from {lake:_household_month/*.parquet}
    -- months built before issue 30 have no figure: its columns are null there, never missing
    union all by name
    select cast(null as uinteger) as counted_members, cast(null as double) as counted_income,
           cast(null as integer) as rigid_months, cast(null as double) as rigid_expenditure_month,
           cast(null as double) as income_after_rigid_per_capita, cast(null as double) as income_after_rigid_ratio
    where false
),

means as (
    select month, household_id, per_capita_income from {lake:_means_households/*.parquet}
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
        household_month.members_incomplete,
        household_month.hardship_score,
        household_month.hardship_level,
        household_month.top_factors,
        household_month.incomplete_dimensions,
        household_month.missing_sources,
        household_month.events_unknown,
        means.per_capita_income,
        household_month.declared_income_per_capita,
        household_month.dibao_standard,
        household_month.counted_members,
        household_month.counted_income,
        household_month.rigid_months,
        household_month.rigid_expenditure_month,
        household_month.income_after_rigid_per_capita,
        household_month.income_after_rigid_ratio,
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
    left join means on household_month.month = means.month and household_month.household_id = means.household_id
)

select * from final
order by month, household_id
