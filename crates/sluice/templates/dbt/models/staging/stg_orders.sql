select
    id as order_id,
    customer,
    status,
    amount_cents / 100.0 as amount,
    ordered_at
from {{ ref('raw_orders') }}
