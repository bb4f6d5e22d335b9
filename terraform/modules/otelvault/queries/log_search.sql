-- Log records at or above a severity whose body contains a text, over a day, in time order. Parameters: lowest SeverityNumber (17 is ERROR), text (% and _ match anything), year, month, day.
SELECT Timestamp, ServiceName, SeverityText, SeverityNumber, Body, TraceId, SpanId
FROM otel_logs
WHERE SeverityNumber >= ? AND Body LIKE concat('%', ?, '%') AND year = ? AND month = ? AND day = ?
ORDER BY Timestamp, ServiceName
