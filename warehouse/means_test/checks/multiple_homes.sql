-- check multiple_homes: one row per recipient household whose members own more than max_homes
-- homes, or any shop, office, industrial unit or parking space. A flag for a home visit, not a verdict.
with final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'multiple_homes' as check_id,
        '核实' as direction,
        format('家庭成员名下住宅{}套、非住宅用房{}套：{}（不动产登记）。此为核实线索，不是结论：请入户核实房屋实际用途、'
               || '是否出租及收入。', assets.homes, assets.non_residential, assets.property_detail) as evidence,
        assets.property_refs as source_refs
    from means_households as households
    inner join means_assets as assets on households.household_id = assets.household_id
    where households.recipient
        and (assets.homes > getvariable('max_homes') or assets.non_residential > 0)
)

select * from final
