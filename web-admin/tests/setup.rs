//! First-run setup: the code exists only while no admin does, works once, and expires after 24 h.

mod common;

use axum::http::StatusCode;
use common::*;
use lectern_admin::Role;
use lectern_admin::setup::{CODE_TTL_SECS, ensure_setup_code_at};
use serde_json::json;

async fn post_setup(h: &Harness, code: &str, username: &str, password: &str) -> Resp {
    let body = json!({ "code": code, "username": username, "password": password });
    h.call("POST", "/admin/api/setup", None, Some(body)).await
}

each_backend!(the_setup_code_creates_the_first_admin_once);
async fn the_setup_code_creates_the_first_admin_once() {
    let h = harness().await;
    let code = ensure_setup_code_at(&h.pool, T0).await.unwrap().expect("no admin yet: a code");
    let r = post_setup(&h, &code, "Root", "first admin password").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["username"].as_str(), r.body["role"].as_str()), (Some("root"), Some("admin")));
    let again = post_setup(&h, &code, "second", "second admin password").await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.text);
    assert!(again.body["detail"].as_str().unwrap().starts_with("code:"));
    // The new admin can log in, and the next start offers no code.
    h.login("root", "first admin password").await;
    assert_eq!(ensure_setup_code_at(&h.pool, T0 + 10).await.unwrap(), None);
    let audit = h.audit_actions().await;
    assert_eq!(audit[0], ("setup".into(), "account.create".into(), "root".into(), "192.0.2.1".into()));
}

each_backend!(the_setup_code_expires_after_a_day);
async fn the_setup_code_expires_after_a_day() {
    let h = harness().await;
    let code = ensure_setup_code_at(&h.pool, T0).await.unwrap().unwrap();
    h.advance(CODE_TTL_SECS);
    let r = post_setup(&h, &code, "root", "first admin password").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // One second earlier it would have worked.
    let code = ensure_setup_code_at(&h.pool, T0 + 1).await.unwrap().unwrap();
    assert_eq!(post_setup(&h, &code, "root", "first admin password").await.status, StatusCode::CREATED);
}

each_backend!(a_new_start_replaces_the_previous_code_and_codes_are_stored_hashed);
async fn a_new_start_replaces_the_previous_code_and_codes_are_stored_hashed() {
    let h = harness().await;
    let old = ensure_setup_code_at(&h.pool, T0).await.unwrap().unwrap();
    let new = ensure_setup_code_at(&h.pool, T0 + 5).await.unwrap().unwrap();
    assert_ne!(old, new);
    assert!(old.len() >= 22, "at least 128 bits");
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT code_hash FROM admin_setup_codes").fetch_all(&h.pool).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored.contains(&new));
    assert_eq!(post_setup(&h, &old, "root", "first admin password").await.status, StatusCode::FORBIDDEN);
    assert_eq!(post_setup(&h, &new, "root", "first admin password").await.status, StatusCode::CREATED);
}

each_backend!(a_policy_error_names_the_field_and_leaves_the_code_usable);
async fn a_policy_error_names_the_field_and_leaves_the_code_usable() {
    let h = harness().await;
    let code = ensure_setup_code_at(&h.pool, T0).await.unwrap().unwrap();
    let r = post_setup(&h, &code, "root", "short").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "password: must be at least 12 characters");
    let r = post_setup(&h, &code, "rootrootroot", "RootRootRoot").await;
    assert_eq!(r.body["detail"], "password: must not be the username");
    let r = post_setup(&h, &code, "no spaces", "first admin password").await;
    assert!(r.body["detail"].as_str().unwrap().starts_with("username:"), "{}", r.text);
    assert_eq!(post_setup(&h, &code, "root", "first admin password").await.status, StatusCode::CREATED);
}

each_backend!(no_code_is_offered_while_an_admin_exists_but_one_is_if_all_are_disabled);
async fn no_code_is_offered_while_an_admin_exists_but_one_is_if_all_are_disabled() {
    let h = harness().await;
    lectern_admin::accounts::create(&h.pool, "otto", OPERATOR_PW, Role::Operator).await.unwrap();
    assert!(ensure_setup_code_at(&h.pool, T0).await.unwrap().is_some(), "an operator is not an admin");
    lectern_admin::accounts::create(&h.pool, "ada", ADMIN_PW, Role::Admin).await.unwrap();
    assert_eq!(ensure_setup_code_at(&h.pool, T0).await.unwrap(), None);
    sqlx::query("UPDATE admin_accounts SET disabled = TRUE WHERE username = 'ada'").execute(&h.pool).await.unwrap();
    assert!(ensure_setup_code_at(&h.pool, T0).await.unwrap().is_some());
}

each_backend!(a_code_from_before_an_admin_existed_cannot_make_a_second_one);
async fn a_code_from_before_an_admin_existed_cannot_make_a_second_one() {
    let h = harness().await;
    let code = ensure_setup_code_at(&h.pool, T0).await.unwrap().unwrap();
    lectern_admin::accounts::create(&h.pool, "ada", ADMIN_PW, Role::Admin).await.unwrap();
    let r = post_setup(&h, &code, "mallory", "mallory password").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
}

each_backend!(the_cli_path_enforces_the_password_policy_and_unique_names);
async fn the_cli_path_enforces_the_password_policy_and_unique_names() {
    let h = harness().await;
    let err = lectern_admin::accounts::create(&h.pool, "ada", "too short", Role::Admin).await.unwrap_err();
    assert_eq!(err.to_string(), "password: must be at least 12 characters");
    let err = lectern_admin::accounts::create(&h.pool, "adalovelace1", "AdaLovelace1", Role::Admin).await.unwrap_err();
    assert_eq!(err.to_string(), "password: must not be the username");
    lectern_admin::accounts::create(&h.pool, "ada", ADMIN_PW, Role::Admin).await.unwrap();
    let err = lectern_admin::accounts::create(&h.pool, "ADA", ADMIN_PW, Role::Operator).await.unwrap_err();
    assert!(matches!(err, lectern_admin::Error::Conflict(_)), "{err}");
    let audit = h.audit_actions().await;
    assert_eq!(audit, vec![("cli".into(), "account.create".into(), "ada".into(), "local".into())]);
}
