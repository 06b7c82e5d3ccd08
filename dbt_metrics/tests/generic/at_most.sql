{#- Fails for every row where the column exceeds `ceiling` (another column or a constant):
    clicks never exceed impressions, good events never exceed all events. -#}
{% test at_most(model, column_name, ceiling) %}
select * from {{ model }} where {{ column_name }} > {{ ceiling }}
{% endtest %}
