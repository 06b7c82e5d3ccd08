# One row per artifact attempt: inventory axes, versions, colour and contrast measurements, the gates' verdict and the publication outcome.
# Looker view of the dbt mart marts.fct_artifact_quality (dbt_metrics/); tests/test_lookml.py checks they match.
view: fct_artifact_quality {
  sql_table_name: marts.fct_artifact_quality ;;

  dimension: artifact_key {
    primary_key: yes
    description: "`artifact_id#attempt`: the row's key."
    type: string
    sql: ${TABLE}.artifact_key ;;
  }

  dimension: artifact_id {
    description: "The artifact, across its attempts."
    type: string
    sql: ${TABLE}.artifact_id ;;
  }

  dimension: attempt {
    description: "1 for the first generation; more for reprocessing."
    type: number
    sql: ${TABLE}.attempt ;;
  }

  dimension: is_reprocess {
    description: "Whether the attempt is a reprocessing (attempt > 1)."
    type: yesno
    sql: ${TABLE}.is_reprocess ;;
  }

  dimension_group: week {
    description: "Monday of the generation's week (UTC)."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.week ;;
  }

  dimension_group: generated_date {
    description: "UTC day of generated_at."
    type: time
    timeframes: [raw, date, week, month, quarter, year]
    convert_tz: no
    datatype: date
    sql: ${TABLE}.generated_date ;;
  }

  dimension_group: generated_at {
    description: "When the image was generated."
    type: time
    timeframes: [raw, time, date, week, month]
    sql: ${TABLE}.generated_at ;;
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
    description: "The channel the image was made for."
    type: string
    sql: ${TABLE}.channel ;;
  }

  dimension: model_version {
    description: "The generating model's version."
    type: string
    sql: ${TABLE}.model_version ;;
  }

  dimension: prompt_version {
    description: "The template's prompt version."
    type: string
    sql: ${TABLE}.prompt_version ;;
  }

  dimension: processing_ms {
    description: "Processing time in milliseconds."
    type: number
    sql: ${TABLE}.processing_ms ;;
  }

  dimension: review_seconds {
    description: "Human QA review time in seconds, when reviewed."
    type: number
    sql: ${TABLE}.review_seconds ;;
  }

  dimension: delta_e_mean {
    description: "CIEDE2000 mean to the master, as delivered."
    type: number
    sql: ${TABLE}.delta_e_mean ;;
  }

  dimension: delta_e_p95 {
    description: "CIEDE2000 95th percentile to the master."
    type: number
    sql: ${TABLE}.delta_e_p95 ;;
  }

  dimension: hist_delta {
    description: "Histogram delta to the master, percent."
    type: number
    sql: ${TABLE}.hist_delta ;;
  }

  dimension: min_contrast_ratio {
    description: "The lowest WCAG contrast ratio over the text layers."
    type: number
    sql: ${TABLE}.min_contrast_ratio ;;
  }

  dimension: wcag_aa_pass {
    description: "Whether every text layer meets WCAG 2.x AA (NULL without text layers)."
    type: yesno
    sql: ${TABLE}.wcag_aa_pass ;;
  }

  dimension: wcag_failed {
    description: "The opposite of wcag_aa_pass (NULL without text layers)."
    type: yesno
    sql: ${TABLE}.wcag_failed ;;
  }

  dimension: clip_score {
    description: "CLIP prompt-image cosine (NULL when no model scored it; see clip_untrained)."
    type: number
    sql: ${TABLE}.clip_score ;;
  }

  dimension: prompt_drift {
    description: "Cosine distance to the template's approved prompt, as computed (see prompt_drift_status)."
    type: number
    sql: ${TABLE}.prompt_drift ;;
  }

  dimension: prompt_drift_status {
    description: "scored (judged), untrained_model, no_approved_prompt or not_configured."
    type: string
    sql: ${TABLE}.prompt_drift_status ;;
  }

  dimension: prompt_drift_judged {
    description: "prompt_drift where the gate judged it (status scored), else NULL; average this one."
    type: number
    sql: ${TABLE}.prompt_drift_judged ;;
  }

  dimension: clip_untrained {
    description: "Whether the CLIP model had no trained weights (scores test plumbing, not judgement)."
    type: yesno
    sql: ${TABLE}.clip_untrained ;;
  }

  dimension: clip_model_hash {
    description: "The CLIP model that scored the artifact (manifest model_hash)."
    type: string
    sql: ${TABLE}.clip_model_hash ;;
  }

  dimension: duplicate_of {
    description: "The earlier artifact this one duplicates, if any."
    type: string
    sql: ${TABLE}.duplicate_of ;;
  }

  dimension: measure_error {
    description: "Why the artifact could not be measured, if it could not."
    type: string
    sql: ${TABLE}.measure_error ;;
  }

  dimension: gate_status {
    description: "The gates' verdict."
    type: string
    sql: ${TABLE}.gate_status ;;
  }

  dimension: failed_gates {
    description: "Gates failed before healing, comma-separated."
    type: string
    sql: ${TABLE}.failed_gates ;;
  }

  dimension: failed_gate_count {
    description: "How many gates failed before healing."
    type: number
    sql: ${TABLE}.failed_gate_count ;;
  }

  dimension: final_delta_e_mean {
    description: "CIEDE2000 mean after healing."
    type: number
    sql: ${TABLE}.final_delta_e_mean ;;
  }

  dimension: delivery_breach {
    description: "Whether processing took longer than the delivery SLA."
    type: yesno
    sql: ${TABLE}.delivery_breach ;;
  }

  dimension: publication_status {
    description: "The publication outcome (the gate verdict, or held)."
    type: string
    sql: ${TABLE}.publication_status ;;
  }

  dimension: published {
    description: "Whether the image was published."
    type: yesno
    sql: ${TABLE}.published ;;
  }

  dimension: hold_reason {
    description: "Why a publishable image was held."
    type: string
    sql: ${TABLE}.hold_reason ;;
  }

  measure: count {
    description: "Rows."
    type: count
  }

  measure: wcag_failure_rate {
    description: "Share of artifact attempts with text failing WCAG AA."
    type: number
    sql: 1.0 * sum(case when ${TABLE}.wcag_failed then 1 else 0 end) / nullif(count(${TABLE}.wcag_failed), 0) ;;
    value_format_name: percent_1
  }

  measure: delta_e_mean_avg {
    description: "Mean of the artifacts' CIEDE2000 means."
    type: average
    sql: ${TABLE}.delta_e_mean ;;
    value_format_name: decimal_3
  }

  measure: published_count {
    description: "Artifact attempts published."
    type: number
    sql: sum(case when ${TABLE}.published then 1 else 0 end) ;;
  }
}
