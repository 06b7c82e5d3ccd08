# Per week, campaign and channel: CTR and CVR (ratios of sums), revenue, support tickets, LCP P75 over every beacon, next to the quality of that week's artifacts, with week-over-week changes.
# Looker view of the dbt mart marts.fct_business_weekly (dbt_metrics/); tests/test_lookml.py checks they match.
view: fct_business_weekly {
  sql_table_name: marts.fct_business_weekly ;;

  dimension: overlay_key {
    primary_key: yes
    description: "`week|campaign|channel`: the row's key."
    type: string
    sql: ${TABLE}.overlay_key ;;
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

  dimension: channel {
    description: "The channel."
    type: string
    sql: ${TABLE}.channel ;;
  }

  dimension: impressions {
    description: "Impressions of the week."
    type: number
    sql: ${TABLE}.impressions ;;
  }

  dimension: clicks {
    description: "Clicks of the week."
    type: number
    sql: ${TABLE}.clicks ;;
  }

  dimension: conversions {
    description: "Conversions of the week."
    type: number
    sql: ${TABLE}.conversions ;;
  }

  dimension: revenue {
    description: "Revenue of the week."
    type: number
    sql: ${TABLE}.revenue ;;
  }

  dimension: currency {
    description: "The currency of revenue."
    type: string
    sql: ${TABLE}.currency ;;
  }

  dimension: support_tickets {
    description: "Support tickets of the week."
    type: number
    sql: ${TABLE}.support_tickets ;;
  }

  dimension: ctr {
    description: "Σclicks / Σimpressions."
    type: number
    sql: ${TABLE}.ctr ;;
  }

  dimension: cvr {
    description: "Σconversions / Σclicks."
    type: number
    sql: ${TABLE}.cvr ;;
  }

  dimension: revenue_per_conversion {
    description: "Revenue per conversion (an LTV proxy)."
    type: number
    sql: ${TABLE}.revenue_per_conversion ;;
  }

  dimension: lcp_p75_ms {
    description: "Nearest-rank 75th percentile of the week's LCP beacons, milliseconds."
    type: number
    sql: ${TABLE}.lcp_p75_ms ;;
  }

  dimension: lcp_samples {
    description: "LCP beacons of the week."
    type: number
    sql: ${TABLE}.lcp_samples ;;
  }

  dimension: artifacts {
    description: "Artifact attempts generated in the week."
    type: number
    sql: ${TABLE}.artifacts ;;
  }

  dimension: published {
    description: "Artifacts published."
    type: number
    sql: ${TABLE}.published ;;
  }

  dimension: colour_fail_rate {
    description: "Share of artifacts failing the colour gate before healing."
    type: number
    sql: ${TABLE}.colour_fail_rate ;;
  }

  dimension: wcag_fail_rate {
    description: "Share of artifacts with text failing WCAG AA."
    type: number
    sql: ${TABLE}.wcag_fail_rate ;;
  }

  dimension: delta_e_mean {
    description: "Mean CIEDE2000 to the master."
    type: number
    sql: ${TABLE}.delta_e_mean ;;
  }

  dimension: prompt_drift_mean {
    description: "Mean prompt drift (NULL until CLIP scores exist)."
    type: number
    sql: ${TABLE}.prompt_drift_mean ;;
  }

  dimension: cvr_wow_change {
    description: "CVR change from the previous week."
    type: number
    sql: ${TABLE}.cvr_wow_change ;;
  }

  dimension: colour_fail_rate_wow_change {
    description: "Colour failure rate change from the previous week."
    type: number
    sql: ${TABLE}.colour_fail_rate_wow_change ;;
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

  measure: total_lcp_samples {
    description: "Sum of lcp_samples."
    type: sum
    sql: ${TABLE}.lcp_samples ;;
  }

  measure: total_artifacts {
    description: "Sum of artifacts."
    type: sum
    sql: ${TABLE}.artifacts ;;
  }

  measure: total_published {
    description: "Sum of published."
    type: sum
    sql: ${TABLE}.published ;;
  }

  measure: ctr_of_sums {
    description: "Σclicks / Σimpressions over the selected rows."
    type: number
    sql: 1.0 * ${total_clicks} / nullif(${total_impressions}, 0) ;;
    value_format_name: percent_2
  }

  measure: cvr_of_sums {
    description: "Σconversions / Σclicks over the selected rows."
    type: number
    sql: 1.0 * ${total_conversions} / nullif(${total_clicks}, 0) ;;
    value_format_name: percent_2
  }
}
