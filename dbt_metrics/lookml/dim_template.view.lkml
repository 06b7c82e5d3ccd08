# Every template seen by any layer, with its span, volumes and latest prompt version.
# Looker view of the dbt mart marts.dim_template (dbt_metrics/); tests/test_lookml.py checks they match.
view: dim_template {
  sql_table_name: marts.dim_template ;;

  dimension: template_id {
    primary_key: yes
    description: "The template."
    type: string
    sql: ${TABLE}.template_id ;;
  }

  dimension_group: first_week {
    description: "First week with a generation."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.first_week ;;
  }

  dimension_group: last_week {
    description: "Last week with a generation."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.last_week ;;
  }

  dimension: artifact_attempts {
    description: "Artifact attempts generated."
    type: number
    sql: ${TABLE}.artifact_attempts ;;
  }

  dimension: prompt_versions {
    description: "Distinct prompt versions used."
    type: number
    sql: ${TABLE}.prompt_versions ;;
  }

  dimension: latest_prompt_version {
    description: "The prompt version of the latest generation."
    type: string
    sql: ${TABLE}.latest_prompt_version ;;
  }

  measure: count {
    description: "Rows."
    type: count
  }

  measure: total_artifact_attempts {
    description: "Sum of artifact_attempts."
    type: sum
    sql: ${TABLE}.artifact_attempts ;;
  }
}
