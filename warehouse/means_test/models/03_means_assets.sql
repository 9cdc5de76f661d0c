-- means_assets: one row per household of the month's roster with a deposit, property, vehicle or
-- business on record: the totals the limits are checked against, their details in Chinese and
-- the delivered rows they come from. Every check reads its assets from here. A negative balance
-- (accepted as delivered) counts as 0 and its detail says so.
-- Each kind's details are gathered as one list of structs, sorted (list_sort orders structs field
-- by field) and then split into the detail text and the refs: ordered aggregates (string_agg and
-- list with `order by`) and count(distinct) took more than twice as long for the province, with the
-- same bytes (figures: docs/design/benchmark-history.md, "The means test's asset details").
-- Another province's answers found 是 (xr_answers, 02_means_cross_region.sql) are rows of their kind
-- (存款 a deposit of `value` yuan, 不动产 a home of `value` m², 机动车 a car, 市场主体 an active
-- entity), their detail 异地核对结果：<province>回复… and their ref the answer row; the details of a
-- member registered in another prefecture of the province are marked （跨市）.
create or replace temp table means_assets as
with owners as (
    select distinct household_id, id_number,
           elsewhere_mark(registered_elsewhere) as mark
    from means_members
),

found_elsewhere as (
    select * from xr_answers where found = '是'
),

deposit_rows as (
    select d.id_number, d.balance, d.institution, d.source_file, d.source_row,
           format('{}{}元{}', d.institution, d.balance,
                  case when d.balance < 0 then '（余额为负数，按0计入，数据异常待核实）' else '' end) as detail,
           d.month || '/' || d.source_file || ':' || d.source_row as ref
    from lake_deposits as d
    where d.month = getvariable('month')
    union all
    select a.id_number, a.value, a.province, a.source_file, a.source_row, a.text, a.ref
    from found_elsewhere as a
    where a.item = '存款'
),

deposits as (
    select owners.household_id, sum(greatest(d.balance, 0)) as deposits,
           list_sort(list({
               'institution': d.institution, 'file': d.source_file, 'row': d.source_row,
               'detail': d.detail || owners.mark, 'ref': d.ref
           })) as items
    from deposit_rows as d
    inner join owners on d.id_number = owners.id_number
    group by owners.household_id
),

estate_rows as (
    select e.id_number, e.property_id, e.source_file, e.source_row,
           list_contains(getvariable('home_usages'), e.usage) as home,
           list_contains(getvariable('non_residential_usages'), e.usage) as non_residential,
           format('{}（{}，{}平方米{}）', e.property_id, e.usage, e.area,
                  case when e.area <= 0 then '，面积为0，登记数据异常' else '' end) as detail,
           e.month || '/' || e.source_file || ':' || e.source_row as ref
    from lake_real_estate as e
    where e.month = getvariable('month')
    union all
    -- another province's answer names no usage: a registered house counts as a home (多套住房)
    select a.id_number, a.request_id || ':' || a.item, a.source_file, a.source_row, true, false, a.text, a.ref
    from found_elsewhere as a
    where a.item = '不动产'
),

properties as (
    select owners.household_id,
           len(list_distinct(list(e.property_id) filter (where e.home))) as homes,
           len(list_distinct(list(e.property_id) filter (where e.non_residential))) as non_residential,
           list_sort(list({
               'property_id': e.property_id, 'file': e.source_file, 'row': e.source_row,
               'detail': e.detail || owners.mark, 'ref': e.ref
           })) as items
    from estate_rows as e
    inner join owners on e.id_number = owners.id_number
    group by owners.household_id
),

vehicle_rows as (
    select v.id_number, v.vehicle_id, v.source_file, v.source_row,
           format('{}（{}，登记于{}）', v.vehicle_id, v.vehicle_type,
                  coalesce(cast(v.registered_on as varchar), '日期不详')) as detail,
           v.month || '/' || v.source_file || ':' || v.source_row as ref
    from lake_vehicles as v
    where v.month = getvariable('month')
        and list_contains(getvariable('car_types'), v.vehicle_type)
        and not list_contains(getvariable('car_exempt_types'), v.vehicle_type)
        and v.operating = '否'
    union all
    -- the answer names no type: the check's evidence asks to verify the exempt cases at home
    select a.id_number, a.request_id || ':' || a.item, a.source_file, a.source_row, a.text, a.ref
    from found_elsewhere as a
    where a.item = '机动车'
),

cars as (
    select owners.household_id, count(*) as cars,
           list_sort(list({
               'vehicle_id': v.vehicle_id, 'file': v.source_file, 'row': v.source_row,
               'detail': v.detail || owners.mark, 'ref': v.ref
           })) as items
    from vehicle_rows as v
    inner join owners on v.id_number = owners.id_number
    group by owners.household_id
),

entity_rows as (
    select b.id_number, b.entity_id, b.source_file, b.source_row,
           format('{}（{}，{}，注册资本{}元）', b.entity_id, b.entity_type, b.role,
                  coalesce(cast(b.registered_capital as varchar), '不详')) as detail,
           b.month || '/' || b.source_file || ':' || b.source_row as ref
    from lake_business as b
    where b.month = getvariable('month')
        and b.status = '存续'
        and not list_contains(getvariable('business_exempt_types'), b.entity_type)
    union all
    select a.id_number, a.request_id || ':' || a.item, a.source_file, a.source_row, a.text, a.ref
    from found_elsewhere as a
    where a.item = '市场主体'
),

entities as (
    select owners.household_id, len(list_distinct(list(b.entity_id))) as entities,
           list_sort(list({
               'entity_id': b.entity_id, 'file': b.source_file, 'row': b.source_row,
               'detail': b.detail || owners.mark, 'ref': b.ref
           })) as items
    from entity_rows as b
    inner join owners on b.id_number = owners.id_number
    group by owners.household_id
),

final as (
    select
        households.household_id,
        coalesce(deposits.deposits, 0) as deposits,
        array_to_string(list_transform(deposits.items, lambda x: x.detail), '、') as deposit_detail,
        list_transform(deposits.items, lambda x: x.ref) as deposit_refs,
        coalesce(properties.homes, 0) as homes,
        coalesce(properties.non_residential, 0) as non_residential,
        array_to_string(list_transform(properties.items, lambda x: x.detail), '、') as property_detail,
        list_transform(properties.items, lambda x: x.ref) as property_refs,
        coalesce(cars.cars, 0) as cars,
        array_to_string(list_transform(cars.items, lambda x: x.detail), '、') as car_detail,
        list_transform(cars.items, lambda x: x.ref) as car_refs,
        coalesce(entities.entities, 0) as entities,
        array_to_string(list_transform(entities.items, lambda x: x.detail), '、') as entity_detail,
        list_transform(entities.items, lambda x: x.ref) as entity_refs
    from (select distinct household_id from owners) as households
    left join deposits on households.household_id = deposits.household_id
    left join properties on households.household_id = properties.household_id
    left join cars on households.household_id = cars.household_id
    left join entities on households.household_id = entities.household_id
)

select * from final
