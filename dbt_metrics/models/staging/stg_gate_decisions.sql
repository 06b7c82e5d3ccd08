-- Per artifact attempt: the gates' verdict (failed gates before healing, as a sorted list).
select
    artifact_id,
    attempt,
    week,
    status as gate_status,
    array_to_string(list_sort(failed_gates), ',') as failed_gates,
    len(failed_gates) as failed_gate_count,
    final_delta_e_mean,
    delivery_breach
from {{ source('retouch', 'gate_decisions') }}
