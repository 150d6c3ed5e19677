{{ config(materialized='incremental', unique_key='order_date') }}
-- Revenue per day. Each run recomputes the days from the latest one already there: that
-- day's row is replaced (its orders may have grown), later days are added.
select
    order_date,
    count(*) as orders,
    sum(amount) as revenue
from {{ ref('orders') }}
where status <> 'returned'
{% if is_incremental() %}
  and order_date >= (select max(order_date) from {{ this }})
{% endif %}
group by order_date
