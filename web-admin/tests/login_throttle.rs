//! Login throttling: 5 failures in 15 minutes, per IP and per username, then 429.

mod common;

use axum::http::{StatusCode, header};
use common::*;

async fn fail(h: &Harness, user: &str, ip: &str) {
    let r = h.login_from(user, "definitely wrong", ip).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}

each_backend!(five_failures_for_a_username_lock_it_from_every_ip_even_with_the_right_password);
async fn five_failures_for_a_username_lock_it_from_every_ip_even_with_the_right_password() {
    let h = harness().await;
    h.admin_and_operator().await;
    for i in 0..5 {
        fail(&h, "ada", &format!("198.51.100.{i}")).await;
        h.advance(60);
    }
    let r = h.login_from("ada", ADMIN_PW, "203.0.113.50").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.body["error"], "rate_limited");
    // The first failure was 5 minutes ago: it ages out in 10.
    assert_eq!(r.headers[header::RETRY_AFTER], "600");
    // Other accounts from other addresses are unaffected.
    assert_eq!(h.login_from("otto", OPERATOR_PW, "203.0.113.50").await.status, StatusCode::OK);
    h.advance(600);
    assert_eq!(h.login_from("ada", ADMIN_PW, "203.0.113.50").await.status, StatusCode::OK);
}

each_backend!(five_failures_from_an_ip_lock_that_ip_for_every_username);
async fn five_failures_from_an_ip_lock_that_ip_for_every_username() {
    let h = harness().await;
    h.admin_and_operator().await;
    for user in ["a", "b", "c", "d", "e"] {
        fail(&h, user, "198.51.100.7").await;
    }
    let r = h.login_from("otto", OPERATOR_PW, "198.51.100.7").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.login_from("otto", OPERATOR_PW, "198.51.100.8").await.status, StatusCode::OK);
    h.advance(15 * 60);
    assert_eq!(h.login_from("otto", OPERATOR_PW, "198.51.100.7").await.status, StatusCode::OK);
}

each_backend!(throttled_attempts_are_not_counted_or_recorded);
async fn throttled_attempts_are_not_counted_or_recorded() {
    let h = harness().await;
    h.admin_and_operator().await;
    for _ in 0..5 {
        fail(&h, "ada", "198.51.100.1").await;
    }
    for _ in 0..20 {
        assert_eq!(h.login_from("ada", "x", "198.51.100.1").await.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_audit WHERE action = 'login.failed'")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(failed, 5, "a locked-out attacker cannot grow the table");
}

each_backend!(failures_four_at_a_time_never_lock_out);
async fn failures_four_at_a_time_never_lock_out() {
    let h = harness().await;
    h.admin_and_operator().await;
    for _ in 0..3 {
        for _ in 0..4 {
            fail(&h, "ada", "198.51.100.1").await;
        }
        h.advance(15 * 60 + 1);
    }
    assert_eq!(h.login_from("ada", ADMIN_PW, "198.51.100.1").await.status, StatusCode::OK);
}

each_backend!(
    sixty_wrong_logins_at_once_reach_the_password_check_at_most_five_times,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn sixty_wrong_logins_at_once_reach_the_password_check_at_most_five_times() {
    let h = std::sync::Arc::new(harness().await);
    h.admin_and_operator().await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let h = h.clone();
        attempts.spawn(async move { h.login_from("ada", "definitely wrong", "198.51.100.9").await.status });
    }
    let mut statuses = Vec::new();
    while let Some(status) = attempts.join_next().await {
        statuses.push(status.expect("the attempt finished"));
    }
    let unauthorized = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!((1..=5).contains(&unauthorized), "{unauthorized} attempts were checked: {statuses:?}");
    assert_eq!(unauthorized + throttled, 60, "{statuses:?}");
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_audit WHERE action = 'login.failed'")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(failed as usize, unauthorized);
    // Locked even with the right password, from anywhere.
    assert_eq!(h.login_from("ada", ADMIN_PW, "203.0.113.5").await.status, StatusCode::TOO_MANY_REQUESTS);
}

each_backend!(failures_before_a_restart_still_count);
async fn failures_before_a_restart_still_count() {
    let mut h = harness().await;
    h.admin_and_operator().await;
    for _ in 0..5 {
        fail(&h, "ada", "198.51.100.1").await;
    }
    h.restart();
    assert_eq!(h.login_from("ada", ADMIN_PW, "203.0.113.5").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.login_from("otto", OPERATOR_PW, "203.0.113.5").await.status, StatusCode::OK);
}
