-- The slowest traces rooted in one service over a day, from the trace summaries: start, trace id, root span, duration (nanoseconds), spans, errors and the services each went through. Parameters: service.name, year, month, day.
SELECT Start, TraceId, RootSpanName, Duration, SpanCount, ErrorCount, ServiceNames
FROM otel_trace_summaries
WHERE RootServiceName = ? AND year = ? AND month = ? AND day = ?
ORDER BY Duration DESC, TraceId
LIMIT 20
