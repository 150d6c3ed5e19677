-- Orders whose amount is negative: there must be none.
select order_id, amount
from {{ ref('orders') }}
where amount < 0
