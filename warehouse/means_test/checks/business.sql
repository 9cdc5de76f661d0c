-- check business: one row per recipient household whose members hold an active business
-- registration other than a tiny individual business. A flag for a home visit, not a verdict.
with final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'business' as check_id,
        '核实' as direction,
        format('家庭成员登记有存续的市场主体{}个：{}（市场监管部门登记）。此为核实线索，不是结论：请入户核实经营状况和收入。',
               assets.entities, assets.entity_detail) as evidence,
        assets.entity_refs as source_refs
    from means_households as households
    inner join means_assets as assets on households.household_id = assets.household_id
    where households.recipient and assets.entities > 0
)

select * from final
