-- check financial_assets: one row per recipient household whose deposits and wealth products per
-- counted member exceed financial_assets_months times the monthly dibao standard.
with deposits as (
    select members.household_id, sum(d.balance) as balance, count(*) as accounts,
           string_agg(format('{}{}元', d.institution, d.balance), '、') as detail,
           list(d.month || '/' || d.source_file || ':' || d.source_row) as source_refs
    from lake_deposits as d
    inner join means_members as members on d.id_number = members.id_number
    where d.month = getvariable('month')
    group by members.household_id
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'financial_assets' as check_id,
        '应退' as direction,
        format('金融资产（存款、理财）合计{}元，人均{}元，超过当地低保标准{}元的{}倍（{}元）。明细：{}（金融机构数据）',
               deposits.balance, round(deposits.balance / households.counted, 2), households.dibao_standard,
               getvariable('financial_assets_months'),
               households.dibao_standard * getvariable('financial_assets_months'), deposits.detail) as evidence,
        deposits.source_refs
    from means_households as households
    inner join deposits on households.household_id = deposits.household_id
    where households.recipient
        and households.counted > 0
        and households.dibao_standard is not null
        and deposits.balance / households.counted > households.dibao_standard * getvariable('financial_assets_months')
)

select * from final
