select
    id as customer_id,
    first_name,
    last_name,
    email,
    country,
    updated_at
from {{ ref('raw_customers') }}
