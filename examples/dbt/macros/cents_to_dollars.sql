{# Amounts are stored in cents; marts show them in euros with two decimals. #}
{% macro cents_to_dollars(column_name, scale=2) -%}
    round(cast({{ column_name }} as double) / 100, {{ scale }})
{%- endmacro %}
