-- The points of one gauge or sum metric over a day, in time order. Parameters: metric name, year, month, day, then the same four again.
SELECT 'gauge' AS type, ServiceName, TimeUnix, Value, Attributes
FROM otel_metrics_gauge
WHERE MetricName = ? AND year = ? AND month = ? AND day = ?
UNION ALL
SELECT 'sum' AS type, ServiceName, TimeUnix, Value, Attributes
FROM otel_metrics_sum
WHERE MetricName = ? AND year = ? AND month = ? AND day = ?
ORDER BY TimeUnix, ServiceName, type
