//! `openapi/paystorm.yaml` and the server agree: every route the server
//! answers is documented with its method, every documented operation is a
//! route, every `$ref` resolves, and each documented body schema lists
//! exactly the fields the shared `wire` types send. The document is read
//! by indentation (it is ours and kept in block style), so no YAML parser
//! is needed.

use std::collections::BTreeSet;

use paystorm::live::server::routes::ROUTES;
use paystorm::live::wire;

fn doc() -> String {
    std::fs::read_to_string(format!(
        "{}/openapi/paystorm.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("openapi/paystorm.yaml exists")
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Keys at `depth` spaces directly under the line `parent` (at `depth - 2`).
fn keys_under(doc: &str, path: &[&str]) -> Vec<String> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut start = 0;
    let mut depth = 0;
    for (level, name) in path.iter().enumerate() {
        let want = format!("{}{name}:", " ".repeat(level * 2));
        let found = lines[start..]
            .iter()
            .position(|l| *l == want || l.starts_with(&format!("{want} ")))
            .unwrap_or_else(|| panic!("no `{}` in the document", path[..=level].join(".")));
        start += found + 1;
        depth = (level + 1) * 2;
    }
    let mut keys = Vec::new();
    for l in &lines[start..] {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        if indent(l) < depth {
            break;
        }
        if indent(l) == depth && !l.trim_start().starts_with('-') {
            if let Some((k, _)) = l.trim().split_once(':') {
                keys.push(k.trim_matches(|c| c == '\'' || c == '"').to_string());
            }
        }
    }
    keys
}

#[test]
fn the_document_and_the_route_table_agree_both_ways() {
    let doc = doc();
    assert!(doc.starts_with("openapi: 3."), "not an OpenAPI 3 document");
    let mut documented = BTreeSet::new();
    for path in keys_under(&doc, &["paths"]) {
        for method in keys_under(&doc, &["paths", &path]) {
            if ["get", "post", "put", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    assert_eq!(served.len(), ROUTES.len(), "a route is listed twice");
}

#[test]
fn every_reference_resolves() {
    let doc = doc();
    let mut refs = BTreeSet::new();
    for l in doc.lines() {
        if let Some((_, r)) = l.split_once("$ref: ") {
            refs.insert(r.trim().trim_matches('\'').to_string());
        }
    }
    assert!(refs.len() > 5);
    for r in refs {
        let parts: Vec<&str> = r.trim_start_matches("#/").split('/').collect();
        let (name, parent) = parts.split_last().unwrap();
        assert!(
            keys_under(&doc, parent).contains(&name.to_string()),
            "{r} does not resolve"
        );
    }
}

fn fields<T: serde::Serialize>(v: &T) -> BTreeSet<String> {
    serde_json::to_value(v)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn documented(doc: &str, schema: &str) -> BTreeSet<String> {
    keys_under(doc, &["components", "schemas", schema, "properties"])
        .into_iter()
        .collect()
}

#[test]
fn body_schemas_list_exactly_the_wire_fields() {
    let doc = doc();
    let create = wire::CreatePayment {
        customer: "cus_1".into(),
        amount: 1,
        currency: "usd".into(),
        method: "card_online".into(),
        capture_method: Some("manual".into()),
        payment_method: Some(wire::CardPresentation {
            token: "tok_1".into(),
            device: "dev_1".into(),
        }),
        return_url: Some("http://x/".into()),
    };
    assert_eq!(documented(&doc, "CreatePayment"), fields(&create));
    assert_eq!(
        documented(&doc, "CardPresentation"),
        fields(create.payment_method.as_ref().unwrap())
    );
    let payment = wire::Payment {
        id: "pay_1".into(),
        object: "payment".into(),
        amount: 1,
        currency: "usd".into(),
        status: "captured".into(),
        method: "qr_wallet".into(),
        amount_captured: 1,
        amount_refunded: 0,
        decline_code: None,
        refund: Some("re_1".into()),
    };
    assert_eq!(documented(&doc, "Payment"), fields(&payment));
    assert_eq!(
        documented(&doc, "CapturePayment"),
        fields(&wire::CapturePayment {
            amount_to_capture: Some(1)
        })
    );
    assert_eq!(
        documented(&doc, "CreateRefund"),
        fields(&wire::CreateRefund { amount: Some(1) })
    );
    assert_eq!(
        documented(&doc, "CreateWalletSession"),
        fields(&wire::CreateWalletSession {
            customer: "cus_1".into()
        })
    );
    assert_eq!(
        documented(&doc, "WalletSession"),
        fields(&wire::WalletSession {
            object: "wallet_session".into(),
            customer: "cus_1".into(),
            token: "tok_1".into(),
            device: "dev_1".into()
        })
    );
    assert_eq!(
        documented(&doc, "CreateWebhookEndpoint"),
        fields(&wire::CreateWebhookEndpoint {
            url: "http://x/".into()
        })
    );
    assert_eq!(
        documented(&doc, "WebhookEndpoint"),
        fields(&wire::WebhookEndpoint {
            id: "we_0".into(),
            object: "webhook_endpoint".into(),
            url: "http://x/".into(),
            secret: "whsec_00".into()
        })
    );
}
