-- check financial_assets: one row per recipient household whose deposits and wealth products per
-- counted member exceed financial_assets_months times the monthly dibao standard.
with final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'financial_assets' as check_id,
        '应退' as direction,
        format('金融资产（存款、理财）合计{}元，人均{}元，超过当地低保标准{}元的{}倍（{}元）。明细：{}（金融机构数据）',
               assets.deposits, round(assets.deposits / households.counted, 2), households.dibao_standard,
               getvariable('financial_assets_months'),
               households.dibao_standard * getvariable('financial_assets_months'), assets.deposit_detail) as evidence,
        assets.deposit_refs as source_refs
    from means_households as households
    inner join means_assets as assets on households.household_id = assets.household_id
    where households.recipient
        and households.counted > 0
        and households.dibao_standard is not null
        and assets.deposits / households.counted > households.dibao_standard * getvariable('financial_assets_months')
)

select * from final
