# The monthly reprocess-cost meter per campaign and template (month of generated_at, UTC).
# Looker view of the dbt mart marts.fct_reprocess_cost_monthly (dbt_metrics/); tests/test_lookml.py checks they match.
view: fct_reprocess_cost_monthly {
  sql_table_name: marts.fct_reprocess_cost_monthly ;;

  dimension: cost_key {
    primary_key: yes
    description: "`month|campaign|template`: the row's key."
    type: string
    sql: ${TABLE}.cost_key ;;
  }

  dimension_group: month {
    description: "First day of the month."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.month ;;
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

  dimension: weeks {
    description: "Weeks of the month written so far."
    type: number
    sql: ${TABLE}.weeks ;;
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
