-- One row per day, for MetricFlow (metric_time at day granularity and coarser). Covers the
-- partitions' first week (2025-01-06) onwards, with room to spare.
select cast(range as date) as date_day
from range(date '2025-01-06', date '2036-01-01', interval 1 day)
