-- The 99th percentile of span duration (nanoseconds) per service and span name over a day, slowest first. Parameters: year, month, day.
SELECT ServiceName, SpanName, count(*) AS spans, approx_percentile(Duration, 0.99) AS p99_duration
FROM otel_traces
WHERE year = ? AND month = ? AND day = ?
GROUP BY ServiceName, SpanName
ORDER BY p99_duration DESC, ServiceName, SpanName
