-- check business: one row per recipient household whose members hold an active business
-- registration other than a tiny individual business. A flag for a home visit, not a verdict.
with entities as (
    select members.household_id, count(distinct b.entity_id) as entities,
           string_agg(format('{}（{}，{}，注册资本{}元）', b.entity_id, b.entity_type, b.role,
                             coalesce(cast(b.registered_capital as varchar), '不详')), '、') as detail,
           list(b.month || '/' || b.source_file || ':' || b.source_row) as source_refs
    from lake_business as b
    inner join means_members as members on b.id_number = members.id_number
    where b.month = getvariable('month')
        and b.status = '存续'
        and not list_contains(getvariable('business_exempt_types'), b.entity_type)
    group by members.household_id
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'business' as check_id,
        '核实' as direction,
        format('家庭成员登记有存续的市场主体{}个：{}（市场监管部门登记）。此为核实线索，不是结论：请入户核实经营状况和收入。',
               entities.entities, entities.detail) as evidence,
        entities.source_refs
    from means_households as households
    inner join entities on households.household_id = entities.household_id
    where households.recipient
)

select * from final
