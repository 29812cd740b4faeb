//! The OpenAPI 3.1 document at `GET /openapi.json` and Swagger UI at `GET /docs`.

use std::collections::BTreeSet;

use reqwest::{StatusCode, header};
use serde_json::Value;
use um_api::{openapi, routes};

use crate::helpers::TestApp;

/// The official OpenAPI 3.1 JSON Schema (origin and license: `fixtures/openapi-3.1-schema.NOTICE.md`).
const OPENAPI_3_1_SCHEMA: &str = include_str!("fixtures/openapi-3.1-schema.json");

/// Paths the contract lists under "Public endpoints" (`/openapi.json` and `/docs` are no
/// operations of the document).
fn is_public(path: &str) -> bool {
    [
        "/register",
        "/login",
        "/token/refresh",
        "/verify-email/",
        "/password-reset",
        "/unlock",
        "/nicknames/",
        "/profiles/",
        "/pictures/",
        "/healthz",
        "/readyz",
        "/metrics",
    ]
    .iter()
    .any(|prefix| path == prefix.trim_end_matches('/') || path.starts_with(prefix))
        || path == "/users/{user_id}/avatar"
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .starts_with("application/json")
    );
    response.json().await.expect("a JSON document")
}

/// Every (METHOD, path) operation of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|key| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&key.as_str())
                })
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

#[tokio::test]
async fn every_registered_route_is_documented_and_nothing_else() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let registered: BTreeSet<(String, String)> = routes::registered()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    let documented = operations(&doc);

    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "registered in routes::configure but missing from /openapi.json (add #[utoipa::path] \
         and list it in openapi::ApiDoc): {undocumented:?}"
    );
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unregistered.is_empty(),
        "documented in /openapi.json but not registered: {unregistered:?}"
    );
    assert_eq!(
        registered.len(),
        routes::registered().len(),
        "a route twice"
    );

    // The document's own routes are served too, and are no operations of it.
    for (method, path) in openapi::OWN_ROUTES {
        assert_eq!(method.as_str(), "GET");
        assert_eq!(
            app.get(path, None).await.status(),
            StatusCode::OK,
            "GET {path}"
        );
        assert!(!documented.contains(&(method.to_string(), (*path).to_owned())));
    }
}

#[tokio::test]
async fn protected_operations_need_the_bearer_scheme_and_public_ones_nothing() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let scheme = &doc["components"]["securitySchemes"][openapi::BEARER];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    assert!(doc.get("security").is_none(), "no global security");
    // Swagger UI's "Authorize" logs in through the OAuth2 password flow of the login form.
    let flow = &doc["components"]["securitySchemes"][openapi::PASSWORD_FLOW];
    assert_eq!(flow["type"], "oauth2");
    assert_eq!(flow["flows"]["password"]["tokenUrl"], "/login");
    assert_eq!(flow["flows"]["password"]["refreshUrl"], "/token/refresh");

    for (method, path) in operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let responses = operation["responses"].as_object().expect("responses");
        if (method.as_str(), path.as_str()) == ("POST", "/logout") {
            // A bearer token, or a refresh token in the body.
            assert_eq!(
                operation["security"],
                serde_json::json!([{}, { openapi::BEARER: [] }, { openapi::PASSWORD_FLOW: [] }]),
                "{method} {path}: a token is optional"
            );
        } else if is_public(&path) {
            assert!(
                operation.get("security").is_none(),
                "{method} {path} is public"
            );
        } else {
            assert_eq!(
                operation["security"],
                serde_json::json!([{ openapi::BEARER: [] }, { openapi::PASSWORD_FLOW: [] }]),
                "{method} {path} needs a token"
            );
            assert!(responses.contains_key("401"), "{method} {path}: 401");
        }
        // Every error answer is a problem (the HTML pages' form posts may answer a page).
        for (status, response) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let content = response["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
            let types: BTreeSet<&str> = content.keys().map(String::as_str).collect();
            // The pages and the form posts they make answer HTML to a browser.
            let page =
                ["/password-reset", "/password-reset/confirm", "/unlock"].contains(&path.as_str());
            assert!(
                types == BTreeSet::from(["application/problem+json"])
                    || (page
                        && types
                            .iter()
                            .all(|t| ["application/problem+json", "text/html"].contains(t))),
                "{method} {path} {status}: {types:?}"
            );
            if let Some(problem) = content.get("application/problem+json") {
                assert_eq!(
                    problem["schema"]["$ref"], "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }

    let problem = &doc["components"]["schemas"]["Problem"];
    let required: BTreeSet<&str> = problem["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["type", "title", "status", "code", "detail"])
    );
    assert!(problem["properties"]["errors"].is_object());
    assert!(problem["properties"]["missing"].is_object());
}

#[tokio::test]
async fn the_document_validates_against_the_openapi_3_1_schema() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");

    let schema: Value = serde_json::from_str(OPENAPI_3_1_SCHEMA).expect("the schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles offline");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid OpenAPI 3.1: {errors:#?}");

    // The validator does reject what is not OpenAPI 3.1.
    let mut broken = doc.clone();
    broken["openapi"] = "3.0.3".into();
    assert!(!validator.is_valid(&broken));
    let mut broken = doc;
    broken["paths"]["/me"]["get"]["responses"]["200"]
        .as_object_mut()
        .expect("a response")
        .remove("description");
    assert!(!validator.is_valid(&broken));
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary_with_its_own_policy() {
    let app = TestApp::spawn().await;

    for path in ["/docs", "/docs/"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .expect("ASCII")
                .starts_with("text/html")
        );
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            openapi::DOCS_CSP
        );
        let html = response.text().await.expect("a page");
        assert!(html.contains(r#"<div id="swagger-ui">"#), "{html}");
        assert!(html.contains(r#"<base href="/docs/">"#), "{html}");
    }
    assert!(
        !openapi::DOCS_CSP.contains("http"),
        "only 'self': {}",
        openapi::DOCS_CSP
    );

    let html = app.get("/docs", None).await.text().await.expect("a page");
    let assets: Vec<&str> = ["href=\"", "src=\""]
        .iter()
        .flat_map(|attr| html.split(attr).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|url| *url != "/docs/")
        .collect();
    for needed in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        assert!(
            assets.iter().any(|a| a.ends_with(needed)),
            "{needed} in {assets:?}"
        );
    }
    for asset in assets {
        assert!(!asset.contains("://"), "{asset} must come from the binary");
        let path = format!("/docs/{}", asset.trim_start_matches("./"));
        let response = app.get(&path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            openapi::DOCS_CSP,
            "GET {path}"
        );
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .to_owned();
        let expected = match path.rsplit('.').next() {
            Some("js") => "javascript",
            Some("css") => "text/css",
            Some("png") => "image/png",
            other => panic!("unexpected asset {path} ({other:?})"),
        };
        assert!(content_type.contains(expected), "{path}: {content_type}");
        let body = response.bytes().await.expect("a body");
        assert!(!body.is_empty(), "{path}");
        if path.ends_with("swagger-initializer.js") {
            let script = String::from_utf8_lossy(&body);
            assert!(script.contains("\"/openapi.json\""), "{script}");
            assert!(!script.contains("petstore"), "{script}");
        }
    }

    // The policy is Swagger UI's only; the API's answers are not given it.
    let health = app.get("/healthz", None).await;
    assert_ne!(
        health
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok()),
        Some(openapi::DOCS_CSP)
    );
}

#[tokio::test]
async fn every_operation_id_is_unique() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let mut seen: std::collections::BTreeMap<String, (String, String)> = Default::default();
    for (method, path) in operations(&doc) {
        let id = doc["paths"][&path][method.to_lowercase()]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_owned();
        if let Some(first) = seen.insert(id.clone(), (method.clone(), path.clone())) {
            panic!("operationId {id:?} is used by {first:?} and by {method} {path}");
        }
    }
    assert_eq!(seen.len(), operations(&doc).len());
}

/// Every `"$ref"` anywhere in `value`, with the JSON pointer of where it occurs.
fn refs(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref"
                    && let Some(target) = child.as_str()
                {
                    found.push((at.to_owned(), target.to_owned()));
                }
                let escaped = key.replace('~', "~0").replace('/', "~1");
                refs(child, &format!("{at}/{escaped}"), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_ref_points_at_an_existing_component() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let mut found = Vec::new();
    refs(&doc, "", &mut found);
    assert!(
        found
            .iter()
            .any(|(_, target)| target == "#/components/schemas/Problem"),
        "the walk finds references: {found:?}"
    );
    let dangling: Vec<_> = found
        .iter()
        .filter(|(_, target)| {
            !(target.starts_with("#/components/") && doc.pointer(&target[1..]).is_some())
        })
        .collect();
    assert!(
        dangling.is_empty(),
        "references to nothing (register the schema in openapi::ApiDoc): {dangling:#?}"
    );

    // The walk does catch a dangling reference.
    let mut broken = doc.clone();
    broken["components"]["schemas"]
        .as_object_mut()
        .expect("schemas")
        .remove("Problem");
    let mut found = Vec::new();
    refs(&broken, "", &mut found);
    assert!(
        found
            .iter()
            .any(|(_, target)| broken.pointer(&target[1..]).is_none())
    );
}

/// A concrete path for a path pattern of the route table.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{user_id}", "00000000-0000-4000-8000-000000000000")
        .replace("{token}", "0123abcd")
        .replace("{key}", "nothing.webp")
        .replace("{nickname}", "somebody")
}

#[tokio::test]
async fn every_405_lists_exactly_the_methods_of_its_path_in_allow() {
    let app = TestApp::spawn().await;

    let mut paths: Vec<(&str, BTreeSet<String>)> = Vec::new();
    for (method, path) in um_api::server::registered() {
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, methods)) => {
                methods.insert(method.to_string());
            }
            None => paths.push((path, BTreeSet::from([method.to_string()]))),
        }
    }
    let all = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let mut checked = 0;
    for (pattern, methods) in &paths {
        let path = concrete(pattern);
        for method in all {
            let response = app
                .client
                .request(method.parse().expect("a method"), app.url(&path))
                .send()
                .await
                .expect("an answer");
            if methods.contains(method) {
                assert_ne!(
                    response.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served"
                );
                continue;
            }
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let allow = response
                .headers()
                .get(header::ALLOW)
                .unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"))
                .to_str()
                .expect("ASCII");
            let listed: BTreeSet<String> = allow
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            assert_eq!(&listed, methods, "{method} {path}: Allow: {allow}");
            if method != "HEAD" {
                let body: Value = response.json().await.expect("a problem");
                assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
                assert!(body["detail"].is_string(), "{method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked > paths.len(), "{checked} answers checked");

    // With a trailing slash too (it is trimmed before routing).
    let response = app.delete("/users/", None).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "GET, POST");
}

#[tokio::test]
async fn skip_and_limit_beyond_the_documented_bounds_are_a_422_naming_them() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let (_, token) = app.admin().await;

    for path in ["/users", "/audit-events"] {
        let bound = |name: &str, key: &str| -> u64 {
            doc["paths"][path]["get"]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .and_then(|p| p["schema"][key].as_u64())
                .unwrap_or_else(|| panic!("{path}: {name} states no {key}"))
        };
        let (max_skip, min_limit, max_limit) = (
            bound("skip", "maximum"),
            bound("limit", "minimum"),
            bound("limit", "maximum"),
        );
        assert_eq!(max_skip, 9_223_372_036_854_775_807, "{path}");
        assert_eq!((min_limit, max_limit), (1, 100), "{path}");

        for query in [
            format!("skip={max_skip}"),
            "skip=0".to_owned(),
            format!("limit={min_limit}"),
            format!("limit={max_limit}"),
        ] {
            let response = app.get(&format!("{path}?{query}"), Some(&token)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}?{query}");
        }
        let response = app
            .get(&format!("{path}?skip={max_skip}&limit=1"), Some(&token))
            .await;
        let page: Value = response.json().await.expect("a page");
        assert_eq!(page["page"].as_u64(), Some(max_skip + 1), "{path}");

        for (name, value) in [
            ("skip", (u128::from(max_skip) + 1).to_string()),
            ("skip", "18446744073709551616".to_owned()),
            ("skip", "99999999999999999999999999".to_owned()),
            ("limit", (max_limit + 1).to_string()),
            ("limit", (min_limit - 1).to_string()),
            ("limit", "18446744073709551616".to_owned()),
        ] {
            let response = app
                .get(&format!("{path}?{name}={value}"), Some(&token))
                .await;
            assert_eq!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}?{name}={value}"
            );
            let problem: Value = response.json().await.expect("a problem");
            assert_eq!(problem["code"], "validation_error", "{path}?{name}={value}");
            assert_eq!(problem["errors"][0]["field"], name, "{problem}");
            let detail = problem["detail"].as_str().expect("a detail");
            assert!(detail.contains(name), "{path}?{name}={value}: {detail}");
            let stated = if name == "skip" {
                max_skip.to_string()
            } else {
                max_limit.to_string()
            };
            assert!(detail.contains(&stated), "{path}?{name}={value}: {detail}");
        }
    }
}

/// The repository's root, where `tests/schemathesis/run` is.
fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `command` to its end off the async runtime and returns its output; a command that is
/// not installed fails the test, naming how to install it (`.ci/run` does).
async fn run_tool(mut command: std::process::Command, install: &str) -> std::process::Output {
    let program = command.get_program().to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command ran")
        .unwrap_or_else(|e| panic!("{program} could not be run ({e}); install it: {install}"))
}

#[tokio::test]
async fn openapi_spec_validator_accepts_the_served_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, serde_json::to_vec(&doc).expect("JSON")).expect("written");

    let mut command = std::process::Command::new("openapi-spec-validator");
    command.arg(&path);
    let output = run_tool(command, "python3 -m pip install openapi-spec-validator").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects /openapi.json:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("OK"), "{stdout}");

    // It does reject a duplicate operationId.
    let mut broken = doc;
    broken["paths"]["/audit-events"]["get"]["operationId"] =
        broken["paths"]["/users"]["get"]["operationId"].clone();
    std::fs::write(&path, serde_json::to_vec(&broken).expect("JSON")).expect("written");
    let mut command = std::process::Command::new("openapi-spec-validator");
    command.arg(&path);
    let output = run_tool(command, "python3 -m pip install openapi-spec-validator").await;
    assert!(!output.status.success(), "a duplicate operationId passes");
}

/// openapi-python-client, a client generator, makes a function for every operation of the
/// served document (it skipped `GET /users` while a `$ref` dangled).
#[tokio::test]
async fn a_generated_python_client_covers_every_operation() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, serde_json::to_vec(&doc).expect("JSON")).expect("written");
    let client = dir.path().join("client");

    let mut command = std::process::Command::new("openapi-python-client");
    command
        .args(["generate", "--meta", "none", "--path"])
        .arg(&path)
        .arg("--output-path")
        .arg(&client);
    let output = run_tool(command, "python3 -m pip install openapi-python-client").await;
    assert!(
        output.status.success(),
        "openapi-python-client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let mut generated = std::collections::BTreeSet::new();
    let mut dirs = vec![client.join("api")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("the generated api folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                && path.extension().is_some_and(|e| e == "py")
                && stem != "__init__"
            {
                generated.insert(stem.to_owned());
            }
        }
    }
    let mut operations = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("a path item").values() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.push(id.to_owned());
            }
        }
    }
    assert!(operations.len() >= 30, "{operations:?}");
    let missing: Vec<_> = operations
        .iter()
        .filter(|id| !generated.contains(*id))
        .collect();
    assert!(missing.is_empty(), "no client function for {missing:?}");
}

/// schemathesis (`tests/schemathesis/run`) fuzzes the running service from its own document,
/// with every check and the token of an ADMIN, and finds nothing.
#[tokio::test]
async fn schemathesis_finds_no_defect_in_the_running_service() {
    // Fuzzed logins would lock the ADMIN whose token the run uses after three failures.
    let app = TestApp::spawn_with(&[("MAX_LOGIN_ATTEMPTS", "100")]).await;
    let (_, token) = app.admin().await;
    // The operations that end sessions get tokens of their own (see the script).
    let logout_token = app.token("admin@example.com").await;
    let (manager_id, _) = app.verified_user("manager@example.com").await;
    let promoted = app
        .send_json(
            reqwest::Method::PUT,
            &format!("/users/{manager_id}/role"),
            &serde_json::json!({"role": "MANAGER"}),
            Some(&token),
        )
        .await;
    assert_eq!(promoted.status(), reqwest::StatusCode::OK);
    let manager_token = app.token("manager@example.com").await;
    let (_, password_token) = app.verified_user("confirmer@example.com").await;

    let mut command = std::process::Command::new(repository().join("tests/schemathesis/run"));
    command
        .arg(&app.base)
        .arg(&token)
        .env("LOGOUT_TOKEN", &logout_token)
        .env("STAFF_TOKEN", &manager_token)
        .env("PASSWORD_TOKEN", &password_token);
    let output = run_tool(command, "python3 -m pip install 'schemathesis>=4,<5'").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(3),
        "schemathesis is not installed (python3 -m pip install 'schemathesis>=4,<5'; .ci/run \
         does): {stderr}"
    );
    assert!(
        output.status.success(),
        "schemathesis reports failures:\n{stdout}\n{stderr}"
    );
    // The fuzzed session endings ended other sessions, not the one everything else used.
    let me = app.get("/me", Some(&token)).await.status();
    let login = app
        .login_form("admin@example.com", crate::helpers::PASSWORD)
        .await;
    let login = format!(
        "{}: {}",
        login.status(),
        login.text().await.unwrap_or_default()
    );
    assert_eq!(
        me,
        reqwest::StatusCode::OK,
        "the run's token still works (login: {login})"
    );
    // Every operation of the document was fuzzed.
    let doc = document(&app).await;
    let operations: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| {
            item.as_object()
                .expect("a path item")
                .values()
                .filter(|operation| operation["operationId"].is_string())
                .count()
        })
        .sum();
    assert!(
        stdout.contains(&format!("{operations} selected / {operations} total")),
        "{stdout}"
    );
}
