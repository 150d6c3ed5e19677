{%- set methods = var('payment_methods') -%}
select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    {% for method in methods -%}
    {{ cents_to_dollars('coalesce(p.' ~ method ~ '_amount, 0)') }} as {{ method }}_amount,
    {% endfor -%}
    {{ cents_to_dollars('coalesce(p.total_amount, 0)') }} as amount
from {{ ref('stg_orders') }} o
left join {{ ref('int_order_payments') }} p on o.order_id = p.order_id
