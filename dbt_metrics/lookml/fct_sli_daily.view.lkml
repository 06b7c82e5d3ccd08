# Good and total events per SLO, day, campaign, template and channel, with the SLI.
# Looker view of the dbt mart marts.fct_sli_daily (dbt_metrics/); tests/test_lookml.py checks they match.
view: fct_sli_daily {
  sql_table_name: marts.fct_sli_daily ;;

  dimension: sli_fact_key {
    primary_key: yes
    description: "`slo|day|campaign|template|channel`: the row's key."
    type: string
    sql: ${TABLE}.sli_fact_key ;;
  }

  dimension_group: week {
    description: "Monday of the day's week (UTC)."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.week ;;
  }

  dimension_group: day {
    description: "The UTC day (event time = generated_at)."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.day ;;
  }

  dimension: slo {
    description: "The SLO's name in retouch-slo.yaml."
    type: string
    sql: ${TABLE}.slo ;;
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

  dimension: channel {
    description: "The channel."
    type: string
    sql: ${TABLE}.channel ;;
  }

  dimension: good {
    description: "Events meeting the SLO's indicator."
    type: number
    sql: ${TABLE}.good ;;
  }

  dimension: total {
    description: "Events the indicator was measured on."
    type: number
    sql: ${TABLE}.total ;;
  }

  dimension: sli {
    description: "good / total of the row (sum good and total before dividing across rows)."
    type: number
    sql: ${TABLE}.sli ;;
  }

  measure: count {
    description: "Rows."
    type: count
  }

  measure: total_good {
    description: "Sum of good."
    type: sum
    sql: ${TABLE}.good ;;
  }

  measure: total_total {
    description: "Sum of total."
    type: sum
    sql: ${TABLE}.total ;;
  }

  measure: sli_ratio {
    description: "Σgood / Σtotal over the selected rows (filter one SLO)."
    type: number
    sql: 1.0 * ${total_good} / nullif(${total_total}, 0) ;;
    value_format_name: percent_2
  }
}
