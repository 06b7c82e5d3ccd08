{#- A model's configured schema is its schema as is (`marts`, not `main_marts`), so the marts
    live in `marts.*` next to the Python layers' `retouch.*`, `slo.*` and `business.*`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
