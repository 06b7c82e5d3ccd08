# Every campaign seen by any layer, with its span and volumes.
# Looker view of the dbt mart marts.dim_campaign (dbt_metrics/); tests/test_lookml.py checks they match.
view: dim_campaign {
  sql_table_name: marts.dim_campaign ;;

  dimension: campaign_id {
    primary_key: yes
    description: "The campaign."
    type: string
    sql: ${TABLE}.campaign_id ;;
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

  dimension: templates {
    description: "Distinct templates used."
    type: number
    sql: ${TABLE}.templates ;;
  }

  dimension: channels {
    description: "Distinct channels served."
    type: number
    sql: ${TABLE}.channels ;;
  }

  dimension_group: first_kpi_week {
    description: "First week with KPIs."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.first_kpi_week ;;
  }

  dimension: has_kpis {
    description: "Whether any KPI row names the campaign."
    type: yesno
    sql: ${TABLE}.has_kpis ;;
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
