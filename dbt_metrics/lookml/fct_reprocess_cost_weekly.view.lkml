# Reprocess cost per week, campaign and template (retries × time × staff cost rate).
# Looker view of the dbt mart marts.fct_reprocess_cost_weekly (dbt_metrics/); tests/test_lookml.py checks they match.
view: fct_reprocess_cost_weekly {
  sql_table_name: marts.fct_reprocess_cost_weekly ;;

  dimension: cost_key {
    primary_key: yes
    description: "`week|campaign|template`: the row's key."
    type: string
    sql: ${TABLE}.cost_key ;;
  }

  dimension_group: week {
    description: "Monday of the week (UTC)."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.week ;;
  }

  dimension: campaign_id {
    description: "The campaign."
    type: string
    sql: ${TABLE}.campaign_id ;;
  }

  dimension: template_id {
    description: "The template."
    type: string
    sql: ${TABLE}.template_id ;;
  }

  dimension: retries {
    description: "Reprocessing attempts."
    type: number
    sql: ${TABLE}.retries ;;
  }

  dimension: processing_hours {
    description: "Their processing time, hours."
    type: number
    sql: ${TABLE}.processing_hours ;;
  }

  dimension: review_hours {
    description: "Their human review time, hours."
    type: number
    sql: ${TABLE}.review_hours ;;
  }

  dimension: cost {
    description: "Their cost."
    type: number
    sql: ${TABLE}.cost ;;
  }

  dimension: currency {
    description: "The currency of cost."
    type: string
    sql: ${TABLE}.currency ;;
  }

  measure: count {
    description: "Rows."
    type: count
  }

  measure: total_retries {
    description: "Sum of retries."
    type: sum
    sql: ${TABLE}.retries ;;
  }

  measure: total_processing_hours {
    description: "Sum of processing_hours."
    type: sum
    sql: ${TABLE}.processing_hours ;;
  }

  measure: total_review_hours {
    description: "Sum of review_hours."
    type: sum
    sql: ${TABLE}.review_hours ;;
  }

  measure: total_cost {
    description: "Sum of cost."
    type: sum
    sql: ${TABLE}.cost ;;
  }
}
