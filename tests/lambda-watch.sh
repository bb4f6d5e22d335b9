#!/usr/bin/env bash
# The Lambda path end to end: the otelvault binary runs under cargo-lambda's
# emulator (the Lambda runtime API plus Function URL payloads), and real
# HTTP requests go through the emulated Function URL. Prints a closing line
# "lambda: N passed, N failed" and fails when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda is missing: run make test-deps"; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
archive=$(mktemp -d)
log=$(mktemp)
pid=
cleanup() {
  [ -z "$pid" ] || kill -- "-$pid" 2>/dev/null || true
  [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
  rm -rf "$archive" "$log"
}
trap cleanup EXIT

# start_function VAR=VALUE…: the function under the emulator on $port, with
# the given environment, logging to $log; returns once it answers /health.
start_function() {
  env "$@" setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --package otelvault >"$log" 2>&1 &
  pid=$!
  url="http://127.0.0.1:$port/lambda-url/otelvault"
  # The first invocation builds (or reuses) the binary and starts it.
  for _ in $(seq 1 600); do
    curl -sf -m 120 "$url/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
}

stop_function() {
  kill -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}

start_function OTELVAULT_STORAGE="$archive" \
  OTELVAULT_INGEST_KEYS="lambda-ingest-key" \
  OTELVAULT_QUERY_KEYS="lambda-query-key" \
  OTELVAULT_EMF=on \
  OTELVAULT_LOG=warn

passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
  fi
}
status() { # METHOD PATH EXPECTED [curl args…]
  local method=$1 path=$2 expected=$3
  shift 3
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' -m 60 -X "$method" "$url$path" "$@")
  [ "$got" = "$expected" ] || { echo "  $method $path: expected $expected, got $got"; return 1; }
}

check "health answers 200" status GET /health 200
check "OTLP/JSON traces with a key are stored" status POST /v1/traces 200 \
  -H 'Content-Type: application/json' -H 'Oteleport-Access-Key: lambda-ingest-key' --data-binary @samples/otlp/traces.json
check "the archive holds the traces" bash -c "find '$archive' -name 'traces_*.json.gz' | grep -q minute=33"
check "gzip protobuf logs with a bearer key are stored" bash -c \
  "gzip -c samples/otlp/logs.binpb | curl -sf -o /dev/null -m 60 -X POST '$url/v1/logs' -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: gzip' -H 'Authorization: Bearer lambda-ingest-key' --data-binary @-"
check "a request without a key is 401" status POST /v1/traces 401 \
  -H 'Content-Type: application/json' --data-binary @samples/otlp/traces.json
check "an unsupported content type is 415" status POST /v1/traces 415 \
  -H 'Content-Type: text/plain' -H 'Oteleport-Access-Key: lambda-ingest-key' --data-binary 'hello'
check "the fetch API returns the stored span" bash -c \
  "curl -sf -m 60 -X POST '$url/api/traces/fetch' -H 'Content-Type: application/json' -H 'Oteleport-Access-Key: lambda-query-key' --data-binary @samples/requests/fetch-traces.json | grep -q '\"name\":\"POST /buy\"'"
# Grafana's Tempo data source through the Function URL.
check "Tempo API: echo, search and trace by id with the query key as Bearer" bash -c \
  "curl -sf -m 60 '$url/api/echo' -H 'Authorization: Bearer lambda-query-key' | grep -qx echo && curl -sf -m 60 '$url/api/search?start=1730000000&end=1730000600&q=%7Bstatus%3Derror%7D' -H 'Authorization: Bearer lambda-query-key' | grep -q '\"traceID\":\"5b8efff798038103d269b633813fc60c\"' && [ \"\$(curl -s -o /dev/null -w '%{http_code}' -m 60 '$url/api/v2/traces/5b8efff798038103d269b633813fc60c?start=1730000000&end=1730000600' -H 'Authorization: Bearer lambda-query-key' -H 'Accept: application/protobuf')\" = 200 ]"
# CloudWatch Embedded Metric Format in the function's log (its stdout).
check "EMF: one event of the function's figures per invocation (3 on /v1/traces)" bash -c \
  "[ \"\$(grep '\"Namespace\":\"otelvault\"' '$log' | grep -c '\"route\":\"/v1/traces\"')\" = 3 ] && grep '\"route\":\"/v1/traces\"' '$log' | grep -q '\"ItemsAccepted\":2.0'"
check "EMF: OTLP metrics become EMF events in the function's log" bash -c \
  "curl -sf -o /dev/null -m 60 -X POST '$url/v1/metrics' -H 'Content-Type: application/json' -H 'Oteleport-Access-Key: lambda-ingest-key' --data-binary @samples/otlp/metrics.json && sleep 1 && grep '\"Namespace\":\"checkout\"' '$log' | grep -q '\"http.server.duration\":{'"
# The smoke command a user runs after a deploy, against the Function URL.
check "otelvault check --url: a span goes in and comes back through the Function URL" bash -c \
  "target/debug/otelvault check --url '$url' --ingest-key lambda-ingest-key --access-key lambda-query-key | tee /dev/stderr | grep -q '^ok: '"

if [ "$failed" -ne 0 ]; then
  echo "--- cargo lambda watch log"
  cat "$log"
fi
stop_function

# The scheduled compaction function: the same package with
# OTELVAULT_FUNCTION=compact, invoked with EventBridge's scheduled event and
# with a range, compacts the archive the API function wrote.
port=$(free_port)
: >"$log"
env OTELVAULT_FUNCTION=compact OTELVAULT_STORAGE="$archive" OTELVAULT_LOG=info \
  setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --package otelvault >"$log" 2>&1 &
pid=$!
invoke() { # EVENT-JSON: the function's answer
  cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" otelvault --data-ascii "$1" 2>&1
}
answer=
for _ in $(seq 1 300); do
  answer=$(invoke '{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}') && break
  sleep 1
done
echo "  scheduled: $answer"
check "compact function: a scheduled run answers with what it did" bash -c "echo '$answer' | grep -q '\"compacted\":0'"
answer=$(invoke '{"start": "2024-10-27T03:00:00Z", "end": "2024-10-27T04:00:00Z"}' || true)
echo "  ranged: $answer"
check "compact function: a ranged run compacts the hour's traces, metrics and logs" bash -c "echo '$answer' | grep -q '\"compacted\":3'"
check "compact function: each run prints its figures as an EMF event" bash -c \
  "[ \"\$(grep -c '\"route\":\"compact\"' '$log')\" = 2 ] && grep '\"route\":\"compact\"' '$log' | grep '\"HoursCompacted\":3.0' | grep -q '\"ParquetBytesWritten\"'"
check "compact function: each compacted hour logs a line" bash -c \
  "[ \"\$(grep -c 'Compacted an hour' '$log')\" = 3 ]"
check "compact function: the hour has its Parquet parts and manifest" bash -c \
  "ls '$archive'/parquet/traces/year=2024/month=10/day=27/hour=03/ | grep -q _manifest.json && ls '$archive'/parquet/logs/year=2024/month=10/day=27/hour=03/ | grep -q '^part-.*parquet$'"
check "compact function: a bad range is an error naming the field" bash -c \
  "invoke() { cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port $port otelvault --data-ascii \"\$1\" 2>&1; }; invoke '{\"start\": \"yesterday\"}' | grep -q 'start: '"
check "compact function: the failed run reported Failures 1 as EMF" bash -c \
  "[ \"\$(grep -c '\"route\":\"compact\"' '$log')\" = 3 ] && grep '\"route\":\"compact\"' '$log' | grep -q '\"Failures\":1.0'"
if [ "$failed" -ne 0 ]; then
  echo "--- cargo lambda watch log"
  cat "$log"
fi
stop_function

# Compaction fanned out: the compaction function plans an hour's shards and
# hands each to a worker invocation through the Lambda Invoke API (the
# emulator answers it synchronously, running up to --concurrency instances);
# the last worker commits the hour. A run killed mid-shard leaves its plan;
# the next scheduled run hands out the shards not done and the hour
# converges. The hour: a big request (one slow shard) and six small ones.
fan_archive=$(mktemp -d)
serve_port=$(free_port)
env OTELVAULT_STORAGE="$fan_archive" OTELVAULT_COMPACT=off OTELVAULT_LOG=warn \
  target/debug/otelvault serve --listen "127.0.0.1:$serve_port" --grpc-listen off >/dev/null 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do curl -sf -m 2 "http://127.0.0.1:$serve_port/health" >/dev/null && break; sleep 0.2; done
python3 - "http://127.0.0.1:$serve_port/v1/traces" <<'PY'
import gzip, json, random, sys, urllib.request
rng = random.Random(7)
hour = 1730005200 * 10**9  # 2024-10-27T05:00:00Z
def span(trace, parent, i):
    start = hour + rng.randrange(50 * 10**9)  # one minute: one object a request
    return {"traceId": trace, "spanId": "%016x" % rng.getrandbits(64), "parentSpanId": parent,
            "name": "GET /item/%d" % rng.randrange(10**6), "kind": 2,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + int(rng.lognormvariate(16, 1.5))),
            "attributes": [{"key": "client.address", "value": {"stringValue": "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(256))}},
                           {"key": "user.id", "value": {"stringValue": "u%08x" % rng.getrandbits(32)}}]}
def request(spans):
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                               "scopeSpans": [{"spans": spans}]}]}
bodies = [[span("%032x" % rng.getrandbits(128), "", i) for i in range(20000)]]
bodies += [[span("%032x" % rng.getrandbits(128), "", i) for i in range(50)] for _ in range(6)]
for spans in bodies:
    data = gzip.compress(json.dumps(request(spans)).encode())
    req = urllib.request.Request(sys.argv[1], data=data, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert urllib.request.urlopen(req, timeout=60).status == 200
PY
fan_spans=20300
fan_hour="$fan_archive/parquet/traces/year=2024/month=10/day=27/hour=05"
start_fanout() {
  port=$(free_port)
  : >"$log"
  env OTELVAULT_FUNCTION=compact OTELVAULT_STORAGE="$fan_archive" OTELVAULT_LOG=info OTELVAULT_EMF=on \
    OTELVAULT_COMPACT_WORKERS=otelvault OTELVAULT_COMPACT_SHARD_MIB=0.0001 \
    AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$port" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --package otelvault --concurrency 3 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    invoke_here '{"start": "2024-10-27T00:00:00Z", "end": "2024-10-27T01:00:00Z"}' | grep -q '"compacted":0' && return 0
    sleep 1
  done
}
invoke_here() { cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" otelvault --data-ascii "$1" 2>&1; }
start_fanout
fan_range='{"start": "2024-10-27T05:00:00Z", "end": "2024-10-27T06:00:00Z"}'
invoke_here "$fan_range" >"$fan_archive/first.txt" 2>&1 &
invoker=$!
# Killed as soon as a small shard is done: the big one is mid-shard.
for _ in $(seq 1 600); do
  ls "$fan_hour"/_shards/*/ 2>/dev/null | grep -q '^[0-9]*\.json$' && break
  sleep 0.05
done
kill -KILL -- "-$pid" 2>/dev/null || true
wait "$pid" "$invoker" 2>/dev/null || true
pid=
pkill -KILL -f "target/debug/otelvault$" 2>/dev/null || true
check "fan-out: the planner cut the hour into shards (7 objects, 7 shards)" bash -c \
  "python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert len(p[\"shards\"]) == 7, p' '$fan_hour/_plan.json'"
check "fan-out: killed mid-run, the hour is not committed and shards are left" bash -c \
  "[ ! -e '$fan_hour/_manifest.json' ] && [ \"\$(ls '$fan_hour'/_shards/*/ | grep -c '^[0-9]*\.json$')\" -lt 7 ]"
start_fanout
answer=$(invoke_here "$fan_range" || true)
echo "  after the kill: $answer"
check "fan-out: the next run hands out only the shards not done" bash -c \
  "echo '$answer' | python3 -c 'import json,sys; a=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert 1 <= a[\"shards\"] < 7 and a[\"planned\"] == 1, a'"
check "fan-out: one manifest names the parts of all 7 shards, and the plan is gone" bash -c \
  "python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); shards={p[\"key\"].split(\"-\")[-2][-4:] for p in m[\"parts\"]}; assert len(shards) == 7 and len(m[\"raw\"]) == 7 and m[\"rows\"] == $fan_spans, (shards, m[\"rows\"])' '$fan_hour/_manifest.json' && [ ! -e '$fan_hour/_plan.json' ] && [ -z \"\$(ls -A '$fan_hour/_shards' 2>/dev/null)\" ]"
fan_duckdb_counts() { # every span of the hour's parts, once
  local got
  got=$(.venv-sql/bin/python - "$fan_hour" <<'PY'
import duckdb, sys
print(duckdb.sql(f"select count(*), count(distinct SpanId) from read_parquet('{sys.argv[1]}/*.parquet')").fetchone())
PY
)
  [ "$got" = "($fan_spans, $fan_spans)" ] || { echo "  DuckDB: $got"; return 1; }
}
check "fan-out: DuckDB counts every span of the hour's Parquet once" fan_duckdb_counts
check "fan-out: the fetch API returns every span once" bash -c \
  "target/debug/otelvault fetch --endpoint http://127.0.0.1:$serve_port --signal traces --start 2024-10-27T05:00:00Z --end 2024-10-27T06:00:00Z | python3 -c 'import json,sys; ids=[s[\"spanId\"] for l in sys.stdin if l.strip() for r in json.loads(l)[\"resourceSpans\"] for ss in r[\"scopeSpans\"] for s in ss[\"spans\"]]; assert len(ids) == len(set(ids)) == $fan_spans, len(ids)'"
check "fan-out: workers log their shards and the committing one the hour; EMF has the shards" bash -c \
  "grep -q 'Compacted a shard' '$log' && grep -q 'Compacted an hour' '$log' && grep '\"route\":\"compact\"' '$log' | grep -q '\"ShardsDispatched\"'"
if [ "$failed" -ne 0 ]; then
  echo "--- cargo lambda watch log"
  cat "$log"
fi
stop_function
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
rm -rf "$fan_archive"

# Forwarding on Lambda: the answer waits for the forward (a frozen function
# sends nothing later) but not on its outcome; a failed forward leaves a
# marker that the scheduled function re-sends from the archive.
backend_port=$(free_port)
backend_archive=$(mktemp -d)
forward_archive=$(mktemp -d)
backend_pid=
start_backend() {
  target/debug/otelvault serve --listen "127.0.0.1:$backend_port" --grpc-listen off \
    --storage "$backend_archive" >/dev/null 2>&1 &
  backend_pid=$!
  for _ in $(seq 1 100); do
    curl -sf -m 2 "http://127.0.0.1:$backend_port/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
}
stop_backend() { kill "$backend_pid" 2>/dev/null || true; wait "$backend_pid" 2>/dev/null || true; }
cargo build --quiet --package otelvault
start_backend
port=$(free_port)
: >"$log"
start_function OTELVAULT_STORAGE="$forward_archive" \
  OTELVAULT_INGEST_KEYS="lambda-ingest-key" \
  OTELVAULT_FORWARD_ENDPOINT="http://127.0.0.1:$backend_port" \
  OTELVAULT_FORWARD_TIMEOUT=2s \
  OTELVAULT_LOG=warn
check "forwarding: the answer comes once the backend has the batch" bash -c \
  "curl -sf -o /dev/null -m 60 -X POST '$url/v1/traces' -H 'Content-Type: application/json' -H 'Oteleport-Access-Key: lambda-ingest-key' --data-binary @samples/otlp/traces.json && find '$backend_archive' -name 'traces_*' | grep -q minute=33 && find '$forward_archive' -name 'traces_*' | grep -q minute=33"
stop_backend
check "forwarding: a dead backend still gets the client a 200" status POST /v1/logs 200 \
  -H 'Content-Type: application/json' -H 'Oteleport-Access-Key: lambda-ingest-key' --data-binary @samples/otlp/logs.json
check "forwarding: and leaves a marker naming what to re-send" bash -c \
  "find '$forward_archive/forward-pending/logs' -name '*.json' | grep -q . && grep -q 'logs_' '$forward_archive'/forward-pending/logs/*.json"
stop_function
start_backend
port=$(free_port)
: >"$log"
env OTELVAULT_FUNCTION=compact OTELVAULT_STORAGE="$forward_archive" OTELVAULT_LOG=info \
  OTELVAULT_FORWARD_ENDPOINT="http://127.0.0.1:$backend_port" \
  setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --package otelvault >"$log" 2>&1 &
pid=$!
answer=
for _ in $(seq 1 300); do
  answer=$(invoke '{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}') && break
  sleep 1
done
echo "  scheduled with forwarding: $answer"
check "forwarding: the scheduled function re-sends it and clears the marker" bash -c \
  "echo '$answer' | grep -q '\"resent\":1' && ! find '$forward_archive/forward-pending' -name '*.json' 2>/dev/null | grep -q . && find '$backend_archive' -name 'logs_*' | grep -q minute=33"
if [ "$failed" -ne 0 ]; then
  echo "--- cargo lambda watch log"
  cat "$log"
fi
stop_function
stop_backend
rm -rf "$backend_archive" "$forward_archive"

# The scheduled X-Ray import function, against moto's X-Ray (behind the
# test proxy that fixes moto's trace summaries), with segments of a trace
# that ended ten minutes ago.
moto_port=$(free_port)
proxy_port=$(free_port)
xray_archive=$(mktemp -d)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
moto_pid=$!
.venv/bin/python tests/python/xray_proxy.py "$proxy_port" "http://127.0.0.1:$moto_port" 0 >/dev/null 2>&1 &
proxy_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null -m 2 "http://127.0.0.1:$moto_port/" && curl -s -o /dev/null -m 2 -X POST "http://127.0.0.1:$proxy_port/TelemetryRecords" && break
  sleep 0.1
done
.venv/bin/python - "$moto_port" <<'PY'
import boto3, json, sys, time, secrets
xray = boto3.client("xray", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                    aws_access_key_id="test", aws_secret_access_key="test")
start = time.time() - 600
trace = f"1-{int(start):08x}-{secrets.token_hex(12)}"
doc = {"id": secrets.token_hex(8), "name": "lambda-xray-check", "trace_id": trace,
       "start_time": start, "end_time": start + 0.25, "origin": "AWS::Lambda::Function"}
assert not xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])["UnprocessedTraceSegments"]
PY
port=$(free_port)
: >"$log"
env OTELVAULT_FUNCTION=xray-import OTELVAULT_STORAGE="$xray_archive" OTELVAULT_LOG=info \
  AWS_ENDPOINT_URL_XRAY="http://127.0.0.1:$proxy_port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --package otelvault >"$log" 2>&1 &
pid=$!
answer=
for _ in $(seq 1 300); do
  answer=$(invoke '{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}') && break
  sleep 1
done
echo "  xray import: $answer"
check "xray import function: a scheduled run imports the trace into the archive" bash -c \
  "echo '$answer' | grep -q '\"imported\":1' && find '$xray_archive' -name 'traces_*' | grep -q ."
answer=$(invoke '{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}' || true)
echo "  again: $answer"
check "xray import function: the next run resumes past it" bash -c "echo '$answer' | grep -q '\"imported\":0'"
if [ "$failed" -ne 0 ]; then
  echo "--- cargo lambda watch log"
  cat "$log"
fi
stop_function
kill "$proxy_pid" "$moto_pid" 2>/dev/null || true
wait "$proxy_pid" "$moto_pid" 2>/dev/null || true
rm -rf "$xray_archive"

# Storage that cannot be reached: init makes no network call, so the
# function starts; its first request checks the storage and logs the cause
# once, and requests answer 503 with Retry-After instead of a lie.
dead=$(free_port)
port=$(free_port)
: >"$log"
start_function OTELVAULT_STORAGE=s3://otelvault-unreachable \
  OTELVAULT_S3_ENDPOINT="http://127.0.0.1:$dead" \
  OTELVAULT_S3_FORCE_PATH_STYLE=true \
  OTELVAULT_S3_TIMEOUT=1s OTELVAULT_S3_ATTEMPT_TIMEOUT=500ms \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  OTELVAULT_INGEST_KEYS="lambda-ingest-key" \
  OTELVAULT_LOG=warn
check "unreachable storage: ingest is 503" status POST /v1/traces 503 \
  -H 'Content-Type: application/json' -H 'Oteleport-Access-Key: lambda-ingest-key' --data-binary @samples/otlp/traces.json
check "unreachable storage: the first request logged the cause once" bash -c \
  "[ \"\$(grep -c 'storage s3://otelvault-unreachable cannot be used' '$log')\" = 1 ]"
if [ "$failed" -ne 0 ]; then
  echo "--- cargo lambda watch log"
  cat "$log"
fi
echo "lambda: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
