select
    id as payment_id,
    order_id,
    payment_method,
    -- amount is stored in cents
    amount
from {{ ref('raw_payments') }}
