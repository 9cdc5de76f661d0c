-- means_cross_region: one row per member of the month's roster registered elsewhere (跨省, 跨市:
-- means_members.registered_elsewhere), asked about in another province or answered by one: the items
-- still waiting for an answer (待异地核对: unanswered in the latest request of the person asking the
-- item, in the month's ledger xr_requests, jobs/cross_region/ledger.py, whose status is 待回复 or 逾期;
-- a request asked again later is 已重发, closed) and the answers that stand as evidence
-- (cross_region_answers of the months from xr_evidence_from: rules/cross_region/ evidence_months; the
-- latest answer per person and item wins, whatever it found). Items are in CROSS_REGION_ITEMS order.
-- xr_answers: those answers, one row per person and item, for the assets model (found 是) and the
-- reports; xr_refs: the refs that mark a doubtful record cross_province (an answer row).
-- elsewhere_mark: what follows the evidence about a member registered in another prefecture of the
-- province (跨市), in the assets' details and the income and employee-insurance checks' evidence.
create or replace temp macro elsewhere_mark(registered_elsewhere) as
    case when registered_elsewhere = '跨市' then '（跨市）' else '' end;

create or replace temp table xr_answers as
with answers as (
    select
        a.id_number, a.request_id, a.item, a.found, a.value, a.detail, a.answered_on, a.region,
        coalesce(getvariable('xr_provinces')[a.region], '区划代码' || a.region || '地区') as province,
        a.month || '/' || a.source_file || ':' || a.source_row as ref,
        a.source_file, a.source_row
    from lake_cross_region_answers as a
    where a.month between getvariable('xr_evidence_from') and getvariable('month')
        and a.id_number in (select id_number from means_members)
    qualify row_number() over (
        partition by a.id_number, a.item order by a.answered_on desc, a.month desc, a.source_row desc) = 1
),

final as (
    select
        *,
        format('异地核对结果：{}回复{}{}{}', province, item,
               case found when '是' then '有登记' when '否' then '无登记' else '无数据' end,
               case when value is not null or coalesce(detail, '') <> ''
                   then format('（{}）', concat_ws('，',
                       case when item = '不动产' then value || '平方米' when item = '存款' then value || '元'
                            else cast(value as varchar) end,
                       nullif(detail, ''))) else '' end) as text
    from answers
)

select * from final;

create or replace temp table means_cross_region as
with members as (
    select household_id, id_number, name, hukou_division_code, registered_elsewhere
    from means_members
),

asked as (
    select id_number, request_id, requested_month, region, reply_by, status, pending_items,
        unnest(string_split(items, ';')) as item
    from xr_requests
),

latest as (
    select * from asked
    qualify row_number() over (partition by id_number, item order by requested_month desc, request_id desc) = 1
),

pending as (
    select
        id_number,
        list_distinct(list(item)) as asked,
        bool_or(status = '逾期') as overdue,
        min(reply_by) as reply_by,
        min(region) as region
    from latest
    where list_contains(getvariable('xr_pending_statuses'), status)
        and list_contains(string_split(pending_items, ';'), item)
    group by id_number
),

answered as (
    select id_number, list({'item': item, 'found': found, 'value': value, 'detail': detail, 'province': province,
                            'answered_on': answered_on, 'ref': ref, 'text': text}
                           order by list_position(getvariable('xr_items'), item)) as answers
    from xr_answers
    group by id_number
),

final as (
    select
        members.household_id,
        members.id_number,
        members.name,
        members.hukou_division_code,
        members.registered_elsewhere,
        pending.region,
        coalesce(getvariable('xr_provinces')[pending.region], '区划代码' || pending.region || '地区') as province,
        list_filter(getvariable('xr_items'), lambda i: list_contains(pending.asked, i)) as pending_items,
        coalesce(pending.overdue, false) as overdue,
        pending.reply_by,
        answered.answers
    from members
    left join pending on members.id_number = pending.id_number
    left join answered on members.id_number = answered.id_number
    where members.registered_elsewhere is not null
        or pending.id_number is not null
        or answered.id_number is not null
)

select * from final;

create or replace temp table xr_refs as
select distinct ref, 'province' as kind from xr_answers
