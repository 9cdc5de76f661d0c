-- v_deliveries: one row per source and month, for the month's current run:
-- delivered / not_delivered / unusable, the files with SHA-256, and the row balance
-- rows_delivered = accepted + quarantined.
create or replace view v_deliveries as
with deliveries as (
    select * from {lake:_deliveries/*.parquet}
),

final as (
    select
        deliveries.month,
        deliveries.run_id,
        deliveries.source,
        deliveries.status,
        deliveries.files,
        deliveries.rows_delivered,
        deliveries.accepted,
        deliveries.quarantined,
        deliveries.error,
        deliveries.ignored_columns
    from deliveries
)

select * from final
order by month, source
