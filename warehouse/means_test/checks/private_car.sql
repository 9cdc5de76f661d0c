-- check private_car: one row per recipient household whose members own a non-operating private
-- car; motorcycles and farm vehicles are exempt.
with cars as (
    select members.household_id, count(*) as cars,
           string_agg(format('{}（{}，登记于{}）', v.vehicle_id, v.vehicle_type, coalesce(cast(v.registered_on as varchar), '日期不详')), '、') as detail,
           list(v.month || '/' || v.source_file || ':' || v.source_row) as source_refs
    from lake_vehicles as v
    inner join means_members as members on v.id_number = members.id_number
    where v.month = getvariable('month')
        and list_contains(getvariable('car_types'), v.vehicle_type)
        and not list_contains(getvariable('car_exempt_types'), v.vehicle_type)
        and v.operating = '否'
    group by members.household_id
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'private_car' as check_id,
        '应退' as direction,
        format('家庭成员名下有非营运小型汽车{}辆：{}（公安交管机动车登记）。请核实是否为残疾人功能性补偿代步机动车等例外情形。',
               cars.cars, cars.detail) as evidence,
        cars.source_refs
    from means_households as households
    inner join cars on households.household_id = cars.household_id
    where households.recipient
)

select * from final
