-- check payments_without_living_member: one row per household still paid a benefit although none
-- of its listed members is alive and present.
with flagged as (
    select * from means_households where counted = 0 and monthly_benefit > 0
),

final as (
    select
        getvariable('month') as month,
        households.household_id,
        households.township_code,
        'payments_without_living_member' as check_id,
        '应退' as direction,
        format('名册中{}名成员均已死亡或被宣告失踪，仍发放月救助金额{}元。请停发并追回。',
               households.listed, households.monthly_benefit) as evidence,
        members.source_refs
    from flagged as households
    inner join (
        -- the refs of the flagged households only: an ordered list per household of the whole
        -- roster took 6 s at province scale
        select household_id, flatten(list(source_refs order by id_number)) as source_refs
        from means_members
        where household_id in (select household_id from flagged)
        group by household_id
    ) as members on households.household_id = members.household_id
)

select * from final
