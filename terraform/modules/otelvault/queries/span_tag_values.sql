-- The most frequent values of a span attribute (or resource attribute, with scope 'resource') over a day, from the tag index, with how many spans carry each. Parameters: scope, attribute name, year, month, day.
SELECT Value, sum(Count) AS spans
FROM otel_trace_tags
WHERE Scope = ? AND Key = ? AND year = ? AND month = ? AND day = ?
GROUP BY Value
ORDER BY spans DESC, Value
LIMIT 100
