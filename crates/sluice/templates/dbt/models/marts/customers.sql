select
    customer,
    count(*) as orders,
    sum(amount) as amount,
    min(ordered_at) as first_order
from {{ ref('stg_orders') }}
where status <> 'cancelled'
group by customer
