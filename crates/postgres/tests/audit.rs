//! The audit log against a real PostgreSQL, one fresh database per test: which events each
//! repository method appends (in its own transaction, so a refused change appends none), and
//! how `PgAuditLog` lists them.

mod common;

use chrono::TimeDelta;
use diesel::{ExpressionMethods as _, QueryDsl as _, sql_query};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::{
        AuditChange, AuditEvent, AuditKind, Nickname, PasswordHash, PictureFormat, PictureKey,
        PictureKeys, RawToken, Role, User, UserId,
    },
    ports::{
        AuditLog, AuditQuery, AuditRecord, FailedLogin, MailKind, RepoError, UserChanges,
        UserRepository,
    },
};
use um_postgres::schema::{audit_events, users};

use common::{
    Fixture, fixture_with_pool_size, insert_with_role, lock_notice, lock_notice_for, locked_event,
    now, pro_mail, request_reset, unlock_rows,
};

/// The shared fixture over a pool of up to 8 connections.
async fn fixture() -> Fixture {
    fixture_with_pool_size(8).await
}

async fn user(f: &Fixture, email_raw: &str, nickname: &str) -> User {
    insert_with_role(&f.repo, email_raw, nickname, Role::Authenticated).await
}

fn event(
    actor: Option<UserId>,
    target: UserId,
    kind: AuditKind,
    changes: &[(&str, Option<&str>, Option<&str>)],
) -> AuditEvent {
    AuditEvent {
        actor,
        target,
        kind,
        changes: changes
            .iter()
            .map(|(field, before, after)| {
                AuditChange::new(field, before.map(str::to_owned), after.map(str::to_owned))
            })
            .collect(),
    }
}

fn unlocked_by_itself(id: UserId) -> AuditEvent {
    event(
        Some(id),
        id,
        AuditKind::Unlocked,
        &[("is_locked", Some("true"), Some("false"))],
    )
}

/// Every stored event, oldest first.
async fn events(f: &Fixture) -> Vec<AuditEvent> {
    let mut records = f
        .log
        .list(AuditQuery {
            skip: 0,
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("listing the audit log")
        .items;
    records.reverse();
    records.into_iter().map(|r| r.event).collect()
}

/// Locks `id` through a failed login with a limit of one, and returns its unlock token.
async fn lock(f: &Fixture, id: UserId) -> RawToken {
    let token = RawToken::generate();
    let outcome = f
        .repo
        .record_failed_login(id, 1, lock_notice_for(id, &token))
        .await
        .expect("record_failed_login");
    assert_eq!(
        outcome,
        FailedLogin::Counted {
            attempts: 1,
            locked: true
        }
    );
    token
}

// ---------------------------------------------------------------------------------------------
// What each method appends

#[tokio::test]
async fn an_update_appends_its_events_in_order_and_a_refused_one_appends_none() {
    let f = fixture().await;
    let admin = insert_with_role(&f.repo, "admin@example.com", "the_admin", Role::Admin).await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let bob = user(&f, "bob@example.com", "bob_b").await;
    let role_changed = event(
        Some(admin.id),
        ada.id,
        AuditKind::RoleChanged,
        &[("role", Some("AUTHENTICATED"), Some("MANAGER"))],
    );
    // Fields out of order: they come back sorted by name.
    let updated = event(
        Some(admin.id),
        ada.id,
        AuditKind::UserUpdated,
        &[
            ("nickname", Some("ada_l"), Some("countess")),
            ("bio", None, Some("Poet.")),
        ],
    );
    f.repo
        .update(
            ada.id,
            UserChanges {
                role: Some(Role::Manager),
                nickname: Some(Nickname::parse("countess").expect("valid")),
                audit: vec![role_changed.clone(), updated.clone()],
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");
    let mut sorted = updated;
    sorted.changes.sort_by(|a, b| a.field.cmp(&b.field));
    assert_eq!(events(&f).await, vec![role_changed, sorted.clone()]);

    let refused = [
        (
            "a taken email",
            bob.id,
            UserChanges {
                email: Some(ada.email.clone()),
                ..UserChanges::default()
            },
        ),
        (
            "a taken nickname",
            bob.id,
            UserChanges {
                nickname: Some(Nickname::parse("COUNTESS").expect("valid")),
                ..UserChanges::default()
            },
        ),
        ("an unknown account", UserId::new(), UserChanges::default()),
        (
            "the last ADMIN",
            admin.id,
            UserChanges {
                role: Some(Role::Manager),
                ..UserChanges::default()
            },
        ),
    ];
    for (case, id, mut changes) in refused {
        changes.audit = vec![event(Some(admin.id), id, AuditKind::UserUpdated, &[])];
        assert!(f.repo.update(id, changes).await.is_err(), "{case}");
        assert_eq!(events(&f).await.len(), 2, "{case} appends nothing");
    }
}

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
    assert!(events(&f).await.is_empty());
}

#[tokio::test]
async fn a_deletion_is_recorded_although_the_account_is_gone() {
    let f = fixture().await;
    let admin = insert_with_role(&f.repo, "admin@example.com", "the_admin", Role::Admin).await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let deleted = event(
        Some(admin.id),
        ada.id,
        AuditKind::UserDeleted,
        &[
            ("email", Some("ada@example.com"), None),
            ("nickname", Some("ada_l"), None),
            ("role", Some("AUTHENTICATED"), None),
        ],
    );
    f.repo
        .delete(ada.id, deleted.clone())
        .await
        .expect("delete");
    assert!(f.repo.find_by_id(ada.id).await.expect("query").is_none());
    assert_eq!(events(&f).await, vec![deleted.clone()]);

    let again = f.repo.delete(ada.id, deleted.clone()).await;
    assert!(matches!(again, Err(RepoError::NotFound)), "{again:?}");
    let last = f
        .repo
        .delete(
            admin.id,
            event(Some(admin.id), admin.id, AuditKind::UserDeleted, &[]),
        )
        .await;
    assert!(matches!(last, Err(RepoError::LastAdmin)), "{last:?}");
    assert_eq!(events(&f).await, vec![deleted], "refusals append nothing");
}

fn keys() -> PictureKeys {
    PictureKeys {
        main: PictureKey::generate(PictureFormat::Png),
        thumbnail: PictureKey::generate(PictureFormat::Png),
    }
}

#[tokio::test]
async fn set_picture_appends_its_event_only_when_it_has_one() {
    let f = fixture().await;
    let manager = insert_with_role(&f.repo, "m@example.com", "the_manager", Role::Manager).await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let picture = keys();
    let changed = event(
        Some(manager.id),
        ada.id,
        AuditKind::PictureChanged,
        &[("profile_picture_key", None, Some(picture.main.as_str()))],
    );
    f.repo
        .set_picture(ada.id, Some(picture.clone()), Some(changed.clone()))
        .await
        .expect("set_picture");
    // The account's own change is not audited.
    f.repo
        .set_picture(ada.id, Some(keys()), None)
        .await
        .expect("set_picture");
    let deleted = event(Some(manager.id), ada.id, AuditKind::PictureDeleted, &[]);
    f.repo
        .set_picture(ada.id, None, Some(deleted.clone()))
        .await
        .expect("set_picture");
    let unknown = f
        .repo
        .set_picture(UserId::new(), None, Some(deleted.clone()))
        .await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
    assert_eq!(events(&f).await, vec![changed, deleted]);
}

#[tokio::test]
async fn set_professional_appends_its_event_only_on_a_real_change() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let upgrade = event(
        Some(ada.id),
        ada.id,
        AuditKind::ProStatusChanged,
        &[("is_professional", Some("false"), Some("true"))],
    );
    for (id, changes) in [(ada.id, true), (ada.id, false), (UserId::new(), false)] {
        let outcome = f
            .repo
            .set_professional(id, true, now(), pro_mail(true), upgrade.clone())
            .await
            .expect("set_professional");
        assert_eq!(outcome.is_some(), changes);
    }
    assert_eq!(events(&f).await, vec![upgrade]);
}

#[tokio::test]
async fn only_the_failed_login_that_locks_appends_locked() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    for _ in 0..2 {
        f.repo
            .record_failed_login(ada.id, 3, lock_notice(ada.id))
            .await
            .expect("record_failed_login");
        assert!(events(&f).await.is_empty(), "no lock, no event");
    }
    let outcome = f
        .repo
        .record_failed_login(ada.id, 3, lock_notice(ada.id))
        .await
        .expect("record_failed_login");
    assert_eq!(
        outcome,
        FailedLogin::Counted {
            attempts: 3,
            locked: true
        }
    );
    let outcome = f
        .repo
        .record_failed_login(ada.id, 3, lock_notice(ada.id))
        .await
        .expect("record_failed_login");
    assert_eq!(outcome, FailedLogin::AlreadyLocked);
    assert_eq!(events(&f).await, vec![locked_event(ada.id)]);
}

fn new_hash() -> PasswordHash {
    PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into())
}

#[tokio::test]
async fn a_reset_appends_unlocked_by_the_account_only_when_it_lifts_a_lock() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;

    let token = request_reset(&f.repo, ada.id, TimeDelta::days(1)).await;
    let reset = f
        .repo
        .reset_password(token.hash(), new_hash(), now(), MailKind::PasswordChanged)
        .await
        .expect("reset_password");
    assert!(reset.is_some());
    assert!(events(&f).await.is_empty(), "nothing was locked");

    lock(&f, ada.id).await;
    let token = request_reset(&f.repo, ada.id, TimeDelta::days(1)).await;
    let reset = f
        .repo
        .reset_password(token.hash(), new_hash(), now(), MailKind::PasswordChanged)
        .await
        .expect("reset_password")
        .expect("the token qualifies");
    assert!(!reset.is_locked);
    assert_eq!(
        events(&f).await,
        vec![locked_event(ada.id), unlocked_by_itself(ada.id)]
    );

    let used = f
        .repo
        .reset_password(token.hash(), new_hash(), now(), MailKind::PasswordChanged)
        .await
        .expect("reset_password");
    assert!(used.is_none());
    assert_eq!(events(&f).await.len(), 2, "a used token appends nothing");
}

#[tokio::test]
async fn the_unlock_link_appends_unlocked_by_the_account() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let token = lock(&f, ada.id).await;
    let unlocked = f
        .repo
        .unlock_with_token(token.hash(), now())
        .await
        .expect("unlock_with_token")
        .expect("the token qualifies");
    assert!(!unlocked.is_locked);
    assert_eq!(
        events(&f).await,
        vec![locked_event(ada.id), unlocked_by_itself(ada.id)]
    );

    let again = f
        .repo
        .unlock_with_token(token.hash(), now())
        .await
        .expect("unlock_with_token");
    assert!(again.is_none());
    assert_eq!(events(&f).await.len(), 2, "a used token appends nothing");
}

// ---------------------------------------------------------------------------------------------
// unlock

#[tokio::test]
async fn unlock_clears_a_lock_kills_the_token_and_appends_its_event() {
    let f = fixture().await;
    let manager = insert_with_role(&f.repo, "m@example.com", "the_manager", Role::Manager).await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let token = lock(&f, ada.id).await;
    assert_eq!(unlock_rows(&f.pool).await, 1);

    let by_staff = event(
        Some(manager.id),
        ada.id,
        AuditKind::Unlocked,
        &[("is_locked", Some("true"), Some("false"))],
    );
    let unlocked = f
        .repo
        .unlock(ada.id, by_staff.clone())
        .await
        .expect("unlock");
    assert!(!unlocked.is_locked);
    assert_eq!(unlocked.failed_login_attempts, 0);
    assert!(unlocked.updated_at >= ada.updated_at);
    assert_eq!(
        f.repo.find_by_id(ada.id).await.expect("query"),
        Some(unlocked)
    );
    assert_eq!(unlock_rows(&f.pool).await, 0, "the unlock link died");
    assert!(
        f.repo
            .unlock_with_token(token.hash(), now())
            .await
            .expect("unlock_with_token")
            .is_none()
    );
    assert_eq!(events(&f).await, vec![locked_event(ada.id), by_staff]);
}

#[tokio::test]
async fn unlocking_an_unlocked_account_clears_the_counter_and_appends_nothing() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    f.repo
        .record_failed_login(ada.id, 3, lock_notice(ada.id))
        .await
        .expect("record_failed_login");
    let staff = event(
        None,
        ada.id,
        AuditKind::Unlocked,
        &[("is_locked", Some("true"), Some("false"))],
    );

    let unlocked = f.repo.unlock(ada.id, staff.clone()).await.expect("unlock");
    assert!(!unlocked.is_locked);
    assert_eq!(unlocked.failed_login_attempts, 0, "the counter is cleared");
    let again = f.repo.unlock(ada.id, staff.clone()).await.expect("unlock");
    assert_eq!(again, unlocked, "nothing left to change");
    assert!(events(&f).await.is_empty());

    let unknown = f.repo.unlock(UserId::new(), staff).await;
    assert!(matches!(unknown, Err(RepoError::NotFound)), "{unknown:?}");
    assert!(events(&f).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The last ADMIN

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_demotions_of_the_last_two_admins_one_is_refused_and_unrecorded() {
    let f = fixture().await;
    for round in 0..5 {
        let a = insert_with_role(
            &f.repo,
            &format!("a{round}@example.com"),
            &format!("adm_a{round}"),
            Role::Admin,
        )
        .await;
        let b = insert_with_role(
            &f.repo,
            &format!("b{round}@example.com"),
            &format!("adm_b{round}"),
            Role::Admin,
        )
        .await;
        // Leave exactly these two ADMINs.
        let mut conn = f.pool.get().await.expect("a connection");
        diesel::update(
            users::table
                .filter(users::role.eq("ADMIN"))
                .filter(users::id.ne_all([a.id.0, b.id.0])),
        )
        .set(users::role.eq("MANAGER"))
        .execute(&mut conn)
        .await
        .expect("demoting earlier rounds");
        drop(conn);

        let demotion = |who: &User, by: &User| UserChanges {
            role: Some(Role::Manager),
            audit: vec![event(
                Some(by.id),
                who.id,
                AuditKind::RoleChanged,
                &[("role", Some("ADMIN"), Some("MANAGER"))],
            )],
            ..UserChanges::default()
        };
        let before = events(&f).await.len();
        let (ra, rb) = tokio::join!(
            f.repo.update(a.id, demotion(&a, &b)),
            f.repo.update(b.id, demotion(&b, &a))
        );
        let outcomes = [ra.map(|_| ()), rb.map(|_| ())];
        let ok = outcomes.iter().filter(|r| r.is_ok()).count();
        let last = outcomes
            .iter()
            .filter(|r| matches!(r, Err(RepoError::LastAdmin)))
            .count();
        assert_eq!((ok, last), (1, 1), "round {round}: {outcomes:?}");
        assert_eq!(
            events(&f).await.len(),
            before + 1,
            "round {round}: only the demotion that happened is recorded"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Listing

/// Appends `event` through an update of its target, in a transaction of its own.
async fn record(f: &Fixture, event: AuditEvent) {
    f.repo
        .update(
            event.target,
            UserChanges {
                audit: vec![event],
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");
}

#[tokio::test]
async fn the_log_lists_newest_first_by_user_and_kind_with_the_total() {
    let f = fixture().await;
    let admin = insert_with_role(&f.repo, "admin@example.com", "the_admin", Role::Admin).await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let bob = user(&f, "bob@example.com", "bob_b").await;
    let recorded = vec![
        event(Some(admin.id), ada.id, AuditKind::RoleChanged, &[]),
        event(None, ada.id, AuditKind::Locked, &[]),
        event(Some(ada.id), ada.id, AuditKind::Unlocked, &[]),
        event(Some(ada.id), bob.id, AuditKind::PictureDeleted, &[]),
        event(Some(admin.id), bob.id, AuditKind::UserUpdated, &[]),
        event(None, bob.id, AuditKind::Locked, &[]),
    ];
    for e in &recorded {
        record(&f, e.clone()).await;
    }
    let newest_first: Vec<AuditEvent> = recorded.iter().rev().cloned().collect();

    let list = async |query: AuditQuery| f.log.list(query).await.expect("list");
    let all = list(AuditQuery {
        skip: 0,
        limit: 100,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(all.total, 6);
    assert_eq!(
        all.items
            .iter()
            .map(|r| r.event.clone())
            .collect::<Vec<_>>(),
        newest_first
    );
    assert!(
        all.items
            .windows(2)
            .all(|w| (w[0].at, w[0].id) > (w[1].at, w[1].id)),
        "ordered by at, then id, descending"
    );

    let cases: Vec<(&str, AuditQuery, Vec<usize>)> = vec![
        (
            "ada as target or actor",
            AuditQuery {
                user_id: Some(ada.id),
                ..AuditQuery::default()
            },
            vec![3, 2, 1, 0],
        ),
        (
            "admin as actor",
            AuditQuery {
                user_id: Some(admin.id),
                ..AuditQuery::default()
            },
            vec![4, 0],
        ),
        (
            "a kind",
            AuditQuery {
                kind: Some(AuditKind::Locked),
                ..AuditQuery::default()
            },
            vec![5, 1],
        ),
        (
            "a user and a kind",
            AuditQuery {
                user_id: Some(bob.id),
                kind: Some(AuditKind::Locked),
                ..AuditQuery::default()
            },
            vec![5],
        ),
        (
            "a stranger",
            AuditQuery {
                user_id: Some(UserId::new()),
                ..AuditQuery::default()
            },
            vec![],
        ),
    ];
    for (case, query, expected) in cases {
        let page = list(AuditQuery {
            limit: 100,
            ..query
        })
        .await;
        let expected: Vec<AuditEvent> = expected.iter().map(|&i| recorded[i].clone()).collect();
        assert_eq!(page.total, expected.len() as u64, "{case}");
        assert_eq!(
            page.items.into_iter().map(|r| r.event).collect::<Vec<_>>(),
            expected,
            "{case}"
        );
    }

    let mut paged: Vec<AuditRecord> = Vec::new();
    for skip in (0..6).step_by(4) {
        let page = list(AuditQuery {
            skip,
            limit: 4,
            ..AuditQuery::default()
        })
        .await;
        assert_eq!(page.total, 6, "the total of every match, not of the page");
        paged.extend(page.items);
    }
    assert_eq!(paged, all.items, "pages of 4 and 2, without overlap");
    let past_the_end = list(AuditQuery {
        skip: 6,
        limit: 4,
        ..AuditQuery::default()
    })
    .await;
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 6);
}

#[tokio::test]
async fn the_events_of_one_transaction_share_their_time_and_keep_their_order() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    let first = event(None, ada.id, AuditKind::RoleChanged, &[]);
    let second = event(None, ada.id, AuditKind::UserUpdated, &[]);
    f.repo
        .update(
            ada.id,
            UserChanges {
                audit: vec![first.clone(), second.clone()],
                ..UserChanges::default()
            },
        )
        .await
        .expect("update");
    let page = f
        .log
        .list(AuditQuery {
            skip: 0,
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        page.items[0].at, page.items[1].at,
        "one transaction, one time"
    );
    assert_eq!(
        page.items.into_iter().map(|r| r.event).collect::<Vec<_>>(),
        vec![second, first],
        "newest first: the later of the transaction first"
    );
}

#[tokio::test]
async fn details_are_stored_as_an_object_of_before_and_after() {
    let f = fixture().await;
    let ada = user(&f, "ada@example.com", "ada_l").await;
    record(
        &f,
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
    record(&f, event(None, ada.id, AuditKind::Locked, &[])).await;
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
    assert_eq!(events(&f).await.len(), 1, "the event is still there");
    let refused_kind = sql_query(
        "INSERT INTO audit_events (target_user_id, kind, details) \
         VALUES (gen_random_uuid(), 'renamed', '{}')",
    )
    .execute(&mut f.pool.get().await.expect("a connection"))
    .await;
    assert!(refused_kind.is_err(), "only the eight kinds");
}
