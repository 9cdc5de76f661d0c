-- means_assets: one row per household of the month's roster with a deposit, property, vehicle or
-- business on record: the totals the limits are checked against, their details in Chinese and
-- the delivered rows they come from. Every check reads its assets from here. A negative balance
-- (accepted as delivered) counts as 0 and its detail says so.
create or replace temp table means_assets as
with owners as (
    select distinct household_id, id_number from means_members
),

deposits as (
    select owners.household_id, sum(greatest(d.balance, 0)) as deposits,
           string_agg(format('{}{}元{}', d.institution, d.balance,
                             case when d.balance < 0 then '（余额为负数，按0计入，数据异常待核实）' else '' end),
                      '、' order by d.institution, d.source_file, d.source_row) as deposit_detail,
           list(d.month || '/' || d.source_file || ':' || d.source_row order by d.institution, d.source_file, d.source_row) as deposit_refs
    from lake_deposits as d
    inner join owners on d.id_number = owners.id_number
    where d.month = getvariable('month')
    group by owners.household_id
),

properties as (
    select owners.household_id,
           count(distinct e.property_id) filter (where e.usage = '住宅') as homes,
           count(distinct e.property_id) filter (where list_contains(getvariable('non_residential_usages'), e.usage))
               as non_residential,
           string_agg(format('{}（{}，{}平方米{}）', e.property_id, e.usage, e.area,
                             case when e.area <= 0 then '，面积为0，登记数据异常' else '' end), '、'
                      order by e.property_id, e.source_file, e.source_row) as property_detail,
           list(e.month || '/' || e.source_file || ':' || e.source_row order by e.property_id, e.source_file, e.source_row) as property_refs
    from lake_real_estate as e
    inner join owners on e.id_number = owners.id_number
    where e.month = getvariable('month')
    group by owners.household_id
),

cars as (
    select owners.household_id, count(*) as cars,
           string_agg(format('{}（{}，登记于{}）', v.vehicle_id, v.vehicle_type,
                             coalesce(cast(v.registered_on as varchar), '日期不详')), '、'
                      order by v.vehicle_id, v.source_file, v.source_row) as car_detail,
           list(v.month || '/' || v.source_file || ':' || v.source_row order by v.vehicle_id, v.source_file, v.source_row) as car_refs
    from lake_vehicles as v
    inner join owners on v.id_number = owners.id_number
    where v.month = getvariable('month')
        and list_contains(getvariable('car_types'), v.vehicle_type)
        and not list_contains(getvariable('car_exempt_types'), v.vehicle_type)
        and v.operating = '否'
    group by owners.household_id
),

entities as (
    select owners.household_id, count(distinct b.entity_id) as entities,
           string_agg(format('{}（{}，{}，注册资本{}元）', b.entity_id, b.entity_type, b.role,
                             coalesce(cast(b.registered_capital as varchar), '不详')), '、'
                      order by b.entity_id, b.source_file, b.source_row) as entity_detail,
           list(b.month || '/' || b.source_file || ':' || b.source_row order by b.entity_id, b.source_file, b.source_row) as entity_refs
    from lake_business as b
    inner join owners on b.id_number = owners.id_number
    where b.month = getvariable('month')
        and b.status = '存续'
        and not list_contains(getvariable('business_exempt_types'), b.entity_type)
    group by owners.household_id
),

final as (
    select
        households.household_id,
        coalesce(deposits.deposits, 0) as deposits,
        deposits.deposit_detail,
        deposits.deposit_refs,
        coalesce(properties.homes, 0) as homes,
        coalesce(properties.non_residential, 0) as non_residential,
        properties.property_detail,
        properties.property_refs,
        coalesce(cars.cars, 0) as cars,
        cars.car_detail,
        cars.car_refs,
        coalesce(entities.entities, 0) as entities,
        entities.entity_detail,
        entities.entity_refs
    from (select distinct household_id from owners) as households
    left join deposits on households.household_id = deposits.household_id
    left join properties on households.household_id = properties.household_id
    left join cars on households.household_id = cars.household_id
    left join entities on households.household_id = entities.household_id
)

select * from final
