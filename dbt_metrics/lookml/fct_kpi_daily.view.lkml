# Campaign KPIs per UTC day and channel; rates are computed by the metrics, as ratios of sums.
# Looker view of the dbt mart marts.fct_kpi_daily (dbt_metrics/); tests/test_lookml.py checks they match.
view: fct_kpi_daily {
  sql_table_name: marts.fct_kpi_daily ;;

  dimension: kpi_key {
    primary_key: yes
    description: "`date|campaign|channel`: the row's key."
    type: string
    sql: ${TABLE}.kpi_key ;;
  }

  dimension_group: week {
    description: "Monday of the day's week (UTC)."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.week ;;
  }

  dimension_group: kpi_date {
    description: "The UTC day."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.kpi_date ;;
  }

  dimension: campaign_id {
    description: "The campaign."
    type: string
    sql: ${TABLE}.campaign_id ;;
  }

  dimension: channel {
    description: "The channel."
    type: string
    sql: ${TABLE}.channel ;;
  }

  dimension: impressions {
    description: "Impressions."
    type: number
    sql: ${TABLE}.impressions ;;
  }

  dimension: clicks {
    description: "Clicks."
    type: number
    sql: ${TABLE}.clicks ;;
  }

  dimension: conversions {
    description: "Conversions."
    type: number
    sql: ${TABLE}.conversions ;;
  }

  dimension: revenue {
    description: "Revenue (currency in retouch-slo.yaml)."
    type: number
    sql: ${TABLE}.revenue ;;
  }

  dimension: support_tickets {
    description: "Support tickets."
    type: number
    sql: ${TABLE}.support_tickets ;;
  }

  measure: count {
    description: "Rows."
    type: count
  }

  measure: total_impressions {
    description: "Sum of impressions."
    type: sum
    sql: ${TABLE}.impressions ;;
  }

  measure: total_clicks {
    description: "Sum of clicks."
    type: sum
    sql: ${TABLE}.clicks ;;
  }

  measure: total_conversions {
    description: "Sum of conversions."
    type: sum
    sql: ${TABLE}.conversions ;;
  }

  measure: total_revenue {
    description: "Sum of revenue."
    type: sum
    sql: ${TABLE}.revenue ;;
  }

  measure: total_support_tickets {
    description: "Sum of support_tickets."
    type: sum
    sql: ${TABLE}.support_tickets ;;
  }

  measure: ctr {
    description: "Σclicks / Σimpressions."
    type: number
    sql: 1.0 * ${total_clicks} / nullif(${total_impressions}, 0) ;;
    value_format_name: percent_2
  }

  measure: cvr {
    description: "Σconversions / Σclicks."
    type: number
    sql: 1.0 * ${total_conversions} / nullif(${total_clicks}, 0) ;;
    value_format_name: percent_2
  }
}
