//! The audit log against a real PostgreSQL, one fresh database per test: how the events are
//! stored. Which events each repository method appends, and how the log lists them, is the
//! contract suite (`tests/contract.rs`).

mod common;

use diesel::{QueryDsl as _, sql_query};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::{AuditKind, Nickname, Role, User},
    ports::{RepoError, UserChanges, UserRepository},
};
use um_postgres::schema::audit_events;

use common::{Fixture, fixture_with_pool_size};
use um_domain::test_support::contract::{event, insert_with_role, logged_events, record};

/// The shared fixture over a pool of up to 8 connections.
async fn fixture() -> Fixture {
    fixture_with_pool_size(8).await
}

async fn user(f: &Fixture, email_raw: &str, nickname: &str) -> User {
    insert_with_role(&f.repo, email_raw, nickname, Role::Authenticated).await
}

// ---------------------------------------------------------------------------------------------
// A refused event

#[tokio::test]
async fn an_event_that_cannot_be_stored_undoes_the_change_it_records() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    // A field named twice is refused when the event is stored, after the row was updated.
    let broken = event(
        None,
        ada.id,
        AuditKind::UserUpdated,
        &[("nickname", None, Some("a")), ("nickname", None, Some("b"))],
    );
    let outcome = f
        .repo
        .update(
            ada.id,
            UserChanges {
                nickname: Some(Nickname::parse("countess").expect("valid")),
                audit: vec![broken],
                ..UserChanges::default()
            },
        )
        .await;
    assert!(matches!(outcome, Err(RepoError::Other(_))), "{outcome:?}");
    let stored = f.repo.find_by_id(ada.id).await.expect("query");
    assert_eq!(
        stored.map(|u| u.nickname),
        Some(ada.nickname),
        "the update was rolled back with its event"
    );
    assert!(logged_events(&f.log).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Listing

#[tokio::test]
async fn details_are_stored_as_an_object_of_before_and_after() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    record(
        &f.repo,
        event(
            None,
            ada.id,
            AuditKind::UserUpdated,
            &[
                ("bio", None, Some("Poet.")),
                ("first_name", Some("Ada"), None),
            ],
        ),
    )
    .await;
    let mut conn = f.pool.get().await.expect("a connection");
    let details: serde_json::Value = audit_events::table
        .select(audit_events::details)
        .first(&mut conn)
        .await
        .expect("the stored details");
    assert_eq!(
        details,
        serde_json::json!({
            "bio": {"before": null, "after": "Poet."},
            "first_name": {"before": "Ada", "after": null},
        })
    );
}

#[tokio::test]
async fn the_log_is_append_only() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    record(&f.repo, event(None, ada.id, AuditKind::Locked, &[])).await;
    let mut conn = f.pool.get().await.expect("a connection");
    for statement in [
        "UPDATE audit_events SET kind = 'unlocked'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let refused = sql_query(statement).execute(&mut conn).await;
        let Err(diesel::result::Error::DatabaseError(_, info)) = &refused else {
            panic!("{statement} must be refused: {refused:?}");
        };
        assert!(
            info.message().contains("append-only"),
            "{statement}: {}",
            info.message()
        );
    }
    drop(conn);
    assert_eq!(
        logged_events(&f.log).await.len(),
        1,
        "the event is still there"
    );
    let refused_kind = sql_query(
        "INSERT INTO audit_events (target_user_id, kind, details) \
         VALUES (gen_random_uuid(), 'renamed', '{}')",
    )
    .execute(&mut f.pool.get().await.expect("a connection"))
    .await;
    assert!(refused_kind.is_err(), "only the eight kinds");
}
