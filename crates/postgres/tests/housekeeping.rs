//! `PgHousekeeping`: expired tokens, ended and expired sessions and long-delivered outbox rows
//! are removed, nothing else.

use chrono::{TimeDelta, Utc};
use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::RunQueryDsl as _;
use um_domain::ports::{Housekeeping as _, Removed};
use um_postgres::{PgHousekeeping, Pool, TestDatabase, connect};

/// Runs `statements`, separated by `;`, one by one.
async fn sql(pool: &Pool, statements: &str) {
    let mut conn = pool.get().await.expect("a connection");
    for statement in statements.split(';').filter(|s| !s.trim().is_empty()) {
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .expect("the statement runs");
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(pool: &Pool, query: &str) -> i64 {
    let mut conn = pool.get().await.expect("a connection");
    diesel::sql_query(query)
        .get_result::<Count>(&mut conn)
        .await
        .expect("the count")
        .n
}

#[tokio::test]
async fn expired_tokens_finished_sessions_and_long_delivered_emails_go_and_everything_else_stays() {
    let db = TestDatabase::new().await;
    let pool = connect(db.url(), 2).await.expect("a pool");
    sql(
        &pool,
        "INSERT INTO users (id, email, nickname, role, hashed_password, created_at, updated_at) VALUES \
         ('00000000-0000-0000-0000-000000000001', 'a@example.com', 'a_a', 'AUTHENTICATED', 'x', now(), now()), \
         ('00000000-0000-0000-0000-000000000002', 'b@example.com', 'b_b', 'AUTHENTICATED', 'x', now(), now());
         INSERT INTO email_verification_tokens VALUES \
         ('00000000-0000-0000-0000-000000000001', 'v1', now() - interval '1 hour'), \
         ('00000000-0000-0000-0000-000000000002', 'v2', now() + interval '1 hour');
         INSERT INTO password_reset_tokens VALUES \
         ('r1', '00000000-0000-0000-0000-000000000001', now() - interval '1 minute'), \
         ('r2', '00000000-0000-0000-0000-000000000001', now() + interval '1 hour');
         INSERT INTO unlock_tokens VALUES \
         ('00000000-0000-0000-0000-000000000002', 'u2', now() - interval '1 day');
         INSERT INTO outbox (recipient, kind, payload, sent_at, given_up_at) VALUES \
         ('a@example.com', 'verify_email', NULL, now() - interval '8 days', NULL), \
         ('a@example.com', 'verify_email', NULL, now() - interval '6 days', NULL), \
         ('a@example.com', 'verify_email', '{}', NULL, NULL), \
         ('a@example.com', 'verify_email', '{}', NULL, now() - interval '30 days');
         INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ended_at, refresh_hash) VALUES \
         ('10000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000001', now(), now(), now() + interval '1 day', NULL, sha256('live')), \
         ('10000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', now(), now(), now() + interval '1 day', now(), sha256('ended')), \
         ('10000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-000000000002', now() - interval '31 days', now(), now() - interval '1 day', NULL, sha256('expired'));
         UPDATE users SET live_session_ids = '{10000000-0000-0000-0000-000000000001}' \
         WHERE id = '00000000-0000-0000-0000-000000000001';
         UPDATE users SET live_session_ids = '{10000000-0000-0000-0000-000000000003}' \
         WHERE id = '00000000-0000-0000-0000-000000000002'",
    )
    .await;
    let housekeeping = PgHousekeeping::new(pool.clone());

    let removed = housekeeping
        .remove_expired(Utc::now(), TimeDelta::days(7))
        .await
        .expect("housekeeping");

    assert_eq!(
        removed,
        Removed {
            expired_tokens: 3,
            delivered_mails: 1,
            finished_sessions: 2,
        }
    );
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM email_verification_tokens").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM password_reset_tokens").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM unlock_tokens").await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) AS n FROM sessions WHERE ended_at IS NULL AND expires_at > now()"
        )
        .await,
        1
    );
    assert_eq!(count(&pool, "SELECT count(*) AS n FROM sessions").await, 1);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) AS n FROM users WHERE live_session_ids = '{}' \
             AND id = '00000000-0000-0000-0000-000000000002'"
        )
        .await,
        1,
        "the expired session left its account's list"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) AS n FROM users WHERE live_session_ids = \
             '{10000000-0000-0000-0000-000000000001}' AND id = '00000000-0000-0000-0000-000000000001'"
        )
        .await,
        1,
        "the live one stays listed"
    );
    // Delivered 6 days ago, waiting, and given up on (kept for an operator) stay.
    assert_eq!(count(&pool, "SELECT count(*) AS n FROM outbox").await, 3);
    // Another instance sweeping right after finds nothing.
    let again = housekeeping
        .remove_expired(Utc::now(), TimeDelta::days(7))
        .await
        .expect("housekeeping");
    assert_eq!(again, Removed::default());
}
