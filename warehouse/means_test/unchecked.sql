-- unchecked: one row per household the means test could not check, with the reason. A missing
-- standard is never read as "passed".
with final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        households.division_code,
        format('行政区划{}（{}）在{}没有适用的低保标准：收入和金融资产未核对，请补充标准后重跑。',
               households.county_code, households.residence_type, getvariable('month')) as reason
    from means_households as households
    where households.dibao_standard is null
)

select * from final
