-- check private_car: one row per recipient household whose members own a non-operating private
-- car; motorcycles and farm vehicles are exempt (means_assets counts only the cars that count).
with final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'private_car' as check_id,
        '应退' as direction,
        format('家庭成员名下有非营运小型汽车{}辆：{}（公安交管机动车登记）。请核实是否为残疾人功能性补偿代步机动车等例外情形。',
               assets.cars, assets.car_detail) as evidence,
        assets.car_refs as source_refs
    from means_households as households
    inner join means_assets as assets on households.household_id = assets.household_id
    where households.recipient and assets.cars > 0
)

select * from final
