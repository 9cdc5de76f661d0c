-- v_quarantine: one row per problem found in a delivered row (a row can have several problems).
-- source_file and source_row point at the delivered file (header = row 1), kept in lake/_raw.
-- household_id: the roster row's household as delivered, whose members are then not all known.
create or replace view v_quarantine as
with quarantine as (
    select * from {lake:_quarantine/*.parquet}
),

deliveries as (
    select month, source, run_id
    from {lake:_deliveries/*.parquet}
),

final as (
    select
        deliveries.run_id,
        quarantine.month,
        quarantine.source,
        quarantine.source_file,
        quarantine.source_row,
        quarantine."column",
        quarantine."check",
        quarantine.reason,
        quarantine.raw_value,
        quarantine.household_id
    from quarantine
    inner join deliveries
        on quarantine.month = deliveries.month
        and quarantine.source = deliveries.source
)

select * from final
order by month, source, source_file, source_row, "column", "check"
