-- check person_in_two_households: one row per household that lists a person also listed in another
-- household this month (another county makes it a cross-county case).
with month_roster as (
    select id_number, name, household_id, division_code, month, source_file, source_row
    from lake_roster
    where month = getvariable('month')
),

-- the persons listed more than once, found on the ID number alone: the self-join below then pairs
-- a few thousand rows, not the province's 4.7 M with their names and references
twice as (
    select id_number from month_roster group by id_number having count(*) > 1
),

listed as (
    select id_number, name, household_id, division_code,
           month || '/' || source_file || ':' || source_row as ref
    from month_roster
    semi join twice using (id_number)
),

shared as (
    select a.household_id, a.name, b.household_id as other_household,
           left(a.division_code, 6) != left(b.division_code, 6) as other_county, a.ref, b.ref as other_ref
    from listed as a
    inner join listed as b on a.id_number = b.id_number and a.household_id != b.household_id
),

final as (
    select
        getvariable('month') as month,
        shared.household_id,
        households.township_code,
        'person_in_two_households' as check_id,
        '核实' as direction,
        string_agg(format('{}同时在户{}中登记{}（监测对象名册）', shared.name, shared.other_household,
                          case when shared.other_county then '，且不在同一县（跨县）' else '' end), '；'
                   order by shared.name, shared.other_household)
            || '。同一人不能在两户重复享受救助，请核实实际共同生活的家庭。' as evidence,
        list_sort(list_distinct(flatten(list([shared.ref, shared.other_ref])))) as source_refs
    from shared
    inner join means_households as households on shared.household_id = households.household_id
    group by shared.household_id, households.township_code
)

select * from final
