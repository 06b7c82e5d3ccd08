# Every real-user LCP beacon (one per page view); percentiles are taken over these.
# Looker view of the dbt mart marts.fct_lcp_beacons (dbt_metrics/); tests/test_lookml.py checks they match.
view: fct_lcp_beacons {
  sql_table_name: marts.fct_lcp_beacons ;;

  dimension: beacon_key {
    primary_key: yes
    description: "`source_file:line_no`: the row's key."
    type: string
    sql: ${TABLE}.beacon_key ;;
  }

  dimension_group: week {
    description: "Monday of the beacon's week (UTC)."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.week ;;
  }

  dimension_group: beacon_date {
    description: "UTC day of the beacon."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.beacon_date ;;
  }

  dimension_group: ts {
    description: "When the page view reported LCP."
    type: time
    timeframes: [raw, time, date, week, month]
    sql: ${TABLE}.ts ;;
  }

  dimension: channel {
    description: "The channel."
    type: string
    sql: ${TABLE}.channel ;;
  }

  dimension: template_id {
    description: "The page's template."
    type: string
    sql: ${TABLE}.template_id ;;
  }

  dimension: campaign_id {
    description: "The campaign (NULL for pages outside a campaign)."
    type: string
    sql: ${TABLE}.campaign_id ;;
  }

  dimension: page {
    description: "The page."
    type: string
    sql: ${TABLE}.page ;;
  }

  dimension: lcp_ms {
    description: "Largest Contentful Paint, milliseconds."
    type: number
    sql: ${TABLE}.lcp_ms ;;
  }

  measure: count {
    description: "Rows."
    type: count
  }

  measure: lcp_p75_ms {
    description: "Nearest-rank 75th percentile of LCP over the selected beacons (quantile_disc), ms."
    type: number
    sql: quantile_disc(${TABLE}.lcp_ms, 0.75) ;;
    value_format_name: decimal_0
  }
}
