//! The translation of real-shaped segment documents: API Gateway → Lambda
//! → DynamoDB; a fault with its cause, an SQS call, an HTTP call that
//! failed, an SQL query; and a trace still in progress.

use super::*;
use otelvault_codec::values::hex;

fn fixture(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let documents: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    // As BatchGetTraces returns them: each segment's document as text.
    documents.iter().map(Value::to_string).collect()
}

fn translated(name: &str) -> Translated {
    let documents = fixture(name);
    let texts: Vec<&str> = documents.iter().map(String::as_str).collect();
    translate(&texts).expect("translate")
}

fn spans(t: &Translated) -> Vec<(&Resource, &Span)> {
    t.request
        .resource_spans
        .iter()
        .flat_map(|rs| {
            rs.scope_spans.iter().flat_map(move |ss| {
                ss.spans
                    .iter()
                    .map(move |s| (rs.resource.as_ref().expect("resource"), s))
            })
        })
        .collect()
}

fn by_name<'a>(all: &'a [(&'a Resource, &'a Span)], name: &str) -> (&'a Resource, &'a Span) {
    *all.iter()
        .find(|(_, s)| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string(value: &str) -> any_value::Value {
    any_value::Value::StringValue(value.into())
}

#[test]
fn an_api_gateway_lambda_dynamodb_trace_keeps_its_tree_times_and_attributes() {
    let t = translated("apigw-lambda-dynamodb.json");
    assert!(t.in_progress.is_empty());
    let all = spans(&t);
    assert_eq!(all.len(), 5);
    for (_, s) in &all {
        assert_eq!(hex(&s.trace_id), "5759e988bd862e3fe1be46a994272793");
    }
    let (gw_resource, gateway) = by_name(&all, "orders-api/prod");
    let (_, invoke) = by_name(&all, "Lambda");
    let (fn_resource, function) = by_name(&all, "get-order");
    let (_, dynamodb) = by_name(&all, "DynamoDB");
    let (_, render) = by_name(&all, "render");
    // The tree: gateway → its Lambda call → the function's segment (through
    // parent_id) → its DynamoDB call and its own work.
    assert_eq!(hex(&gateway.span_id), "70de5b6f19ff9a0a");
    assert!(gateway.parent_span_id.is_empty());
    assert_eq!(invoke.parent_span_id, gateway.span_id);
    assert_eq!(function.parent_span_id, invoke.span_id);
    assert_eq!(dynamodb.parent_span_id, function.span_id);
    assert_eq!(render.parent_span_id, function.span_id);
    // Kinds: segments serve; aws calls are clients; the rest internal.
    assert_eq!(gateway.kind, span::SpanKind::Server as i32);
    assert_eq!(function.kind, span::SpanKind::Server as i32);
    assert_eq!(invoke.kind, span::SpanKind::Client as i32);
    assert_eq!(dynamodb.kind, span::SpanKind::Client as i32);
    assert_eq!(render.kind, span::SpanKind::Internal as i32);
    // Seconds to nanoseconds, to the microsecond.
    assert_eq!(gateway.start_time_unix_nano, 1_730_000_000_100_000_000);
    assert_eq!(gateway.end_time_unix_nano, 1_730_000_000_350_000_000);
    // HTTP, AWS and annotation attributes.
    assert_eq!(
        attr(&gateway.attributes, "http.request.method"),
        Some(&string("GET"))
    );
    assert_eq!(
        attr(&gateway.attributes, "url.full"),
        Some(&string("https://api.example.com/prod/orders/42"))
    );
    assert_eq!(
        attr(&gateway.attributes, "client.address"),
        Some(&string("203.0.113.7"))
    );
    assert_eq!(
        attr(&gateway.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(attr(&gateway.attributes, "tenant"), Some(&string("acme")));
    assert_eq!(
        attr(&dynamodb.attributes, "rpc.system"),
        Some(&string("aws-api"))
    );
    assert_eq!(
        attr(&dynamodb.attributes, "rpc.service"),
        Some(&string("DynamoDB"))
    );
    assert_eq!(
        attr(&dynamodb.attributes, "rpc.method"),
        Some(&string("GetItem"))
    );
    assert_eq!(
        attr(&dynamodb.attributes, "aws.table_name"),
        Some(&string("orders"))
    );
    assert_eq!(
        attr(&dynamodb.attributes, "aws.region"),
        Some(&string("eu-west-1"))
    );
    assert_eq!(
        attr(&dynamodb.attributes, "aws.request_id"),
        Some(&string("DDB-REQ-7"))
    );
    assert_eq!(
        attr(&function.attributes, "aws.xray.metadata.default.order"),
        Some(&string(r#"{"id":42,"items":3}"#))
    );
    // Resources: each segment's service, platform and account.
    assert_eq!(
        attr(&gw_resource.attributes, "service.name"),
        Some(&string("orders-api/prod"))
    );
    assert_eq!(
        attr(&gw_resource.attributes, "cloud.platform"),
        Some(&string("aws_api_gateway"))
    );
    assert_eq!(
        attr(&fn_resource.attributes, "service.name"),
        Some(&string("get-order"))
    );
    assert_eq!(
        attr(&fn_resource.attributes, "cloud.platform"),
        Some(&string("aws_lambda"))
    );
    assert_eq!(
        attr(&fn_resource.attributes, "cloud.provider"),
        Some(&string("aws"))
    );
    assert_eq!(
        attr(&fn_resource.attributes, "cloud.account.id"),
        Some(&string("123456789012"))
    );
    assert_eq!(
        attr(&fn_resource.attributes, "service.version"),
        Some(&string("$LATEST"))
    );
    // Nothing failed.
    for (_, s) in &all {
        assert_eq!(s.status.as_ref().map(|s| s.code), Some(0), "{}", s.name);
    }
}

#[test]
fn faults_errors_and_causes_become_statuses_and_exception_events() {
    let t = translated("error-and-sqs.json");
    // The trace still in progress is left for a later import, whole.
    assert_eq!(t.in_progress, ["6710d2a0ffffffffffffffffffffffff"]);
    let all = spans(&t);
    assert_eq!(all.len(), 4);
    let (resource, checkout) = by_name(&all, "checkout");
    let status = checkout.status.as_ref().expect("status");
    assert_eq!(status.code, status::StatusCode::Error as i32);
    assert_eq!(status.message, "card expired");
    assert_eq!(checkout.events.len(), 1);
    let event = &checkout.events[0];
    assert_eq!(event.name, "exception");
    assert_eq!(event.time_unix_nano, checkout.end_time_unix_nano);
    assert_eq!(
        attr(&event.attributes, "exception.type"),
        Some(&string("PaymentDeclined"))
    );
    assert_eq!(
        attr(&event.attributes, "exception.message"),
        Some(&string("card expired"))
    );
    assert_eq!(
        attr(&event.attributes, "exception.stacktrace"),
        Some(&string("at charge (checkout.py:42)"))
    );
    // Fractional seconds keep their microseconds.
    assert_eq!(checkout.start_time_unix_nano, 1_730_000_100_000_001_000);
    assert_eq!(
        attr(&resource.attributes, "cloud.platform"),
        Some(&string("aws_ec2"))
    );
    let (_, sqs) = by_name(&all, "SQS");
    assert_eq!(sqs.kind, span::SpanKind::Client as i32);
    assert_eq!(
        attr(&sqs.attributes, "rpc.method"),
        Some(&string("SendMessage"))
    );
    assert_eq!(
        attr(&sqs.attributes, "aws.queue_url"),
        Some(&string(
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
        ))
    );
    let (_, payments) = by_name(&all, "payments.example.com");
    assert_eq!(payments.kind, span::SpanKind::Client as i32);
    assert_eq!(
        payments
            .status
            .as_ref()
            .map(|s| (s.code, s.message.as_str())),
        Some((status::StatusCode::Error as i32, "error"))
    );
    assert_eq!(
        attr(&payments.attributes, "rpc.system"),
        None,
        "not an AWS call"
    );
    let (_, db) = by_name(&all, "orders-db");
    assert_eq!(
        attr(&db.attributes, "db.system"),
        Some(&string("PostgreSQL"))
    );
    assert_eq!(
        attr(&db.attributes, "db.statement"),
        Some(&string("SELECT * FROM orders WHERE id = ?"))
    );
    assert_eq!(attr(&db.attributes, "db.user"), Some(&string("app")));
}

#[test]
fn malformed_documents_name_the_segment_and_the_field() {
    let err = translate(&[r#"{"id":"0123456789abcdef","name":"x","trace_id":"5759e988bd862e3f","start_time":1,"end_time":2}"#])
        .expect_err("bad trace id");
    assert!(
        err.to_string().contains("0123456789abcdef") && err.to_string().contains("trace_id"),
        "{err}"
    );
    let err = translate(&[r#"{"id":"xyz","name":"x","trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1,"end_time":2}"#])
        .expect_err("bad id");
    assert!(err.to_string().contains("id \"xyz\""), "{err}");
    let err = translate(&[r#"{"id":"0123456789abcdef","name":"x","trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1}"#])
        .expect_err("no end");
    assert!(err.to_string().contains("no end_time"), "{err}");
    assert!(translate(&["[1,2]"]).is_err());
    assert!(translate(&["not json"]).is_err());
}
