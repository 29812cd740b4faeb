//! Listing accounts and reading the audit log.

use super::*;

// ---------------------------------------------------------------------------------------------
// Listing accounts: filters, sort and what a MANAGER sees
// ---------------------------------------------------------------------------------------------

/// A listing that uses every filter and a sort other than the default.
fn a_filtered_query(roles: Option<Vec<Role>>) -> UserQuery {
    UserQuery {
        skip: 30,
        limit: 15,
        filter: UserFilter {
            q: Some("lovelace".to_owned()),
            roles,
            is_locked: Some(true),
            is_professional: Some(false),
            email_verified: Some(true),
            created_from: Some(now() - TimeDelta::days(7)),
            created_to: Some(now()),
        },
        sort: UserSort::EmailDesc,
    }
}

/// The repository lists anything and keeps the query it was given.
fn a_listing(given: &mut Given) -> Spy<UserQuery> {
    let queries = Spy::default();
    let spy = queries.clone();
    given.users.expect_list().times(1).returning(move |query| {
        spy.record(query);
        Ok(Page {
            items: Vec::new(),
            total: 0,
        })
    });
    queries
}

#[tokio::test]
async fn a_managers_role_filter_is_narrowed_to_the_plain_roles() {
    use Role::*;
    let cases = [
        (Some(vec![Admin]), Some(vec![])),
        (Some(vec![Manager, Admin]), Some(vec![])),
        (
            Some(vec![Authenticated, Manager]),
            Some(vec![Authenticated]),
        ),
        (
            Some(vec![Anonymous, Authenticated, Manager, Admin]),
            Some(vec![Anonymous, Authenticated]),
        ),
        (Some(vec![Anonymous]), Some(vec![Anonymous])),
        // No role filter: every role the MANAGER may see.
        (None, Some(vec![Anonymous, Authenticated])),
    ];
    for (asked, narrowed) in cases {
        let mut given = Given::new();
        let queries = a_listing(&mut given);
        let service = given.service();

        service
            .list_users(actor(Manager), a_filtered_query(asked.clone()))
            .await
            .expect("listed");

        // Only the roles change: paging, the other filters and the sort pass through.
        assert_eq!(
            queries.only(),
            a_filtered_query(narrowed),
            "asked for {asked:?}"
        );
    }
}

#[tokio::test]
async fn an_admins_query_reaches_the_repository_untouched() {
    for roles in [
        None,
        Some(vec![Role::Manager, Role::Admin]),
        Some(Vec::new()),
    ] {
        let mut given = Given::new();
        let queries = a_listing(&mut given);
        let service = given.service();

        service
            .list_users(actor(Role::Admin), a_filtered_query(roles.clone()))
            .await
            .expect("listed");

        assert_eq!(queries.only(), a_filtered_query(roles));
    }
}

#[tokio::test]
async fn every_sort_reaches_the_repository() {
    for sort in UserSort::ALL {
        let mut given = Given::new();
        let queries = a_listing(&mut given);
        let service = given.service();

        service
            .list_users(
                actor(Role::Manager),
                UserQuery {
                    sort,
                    ..page_of(0, 10)
                },
            )
            .await
            .expect("listed");

        assert_eq!(queries.only().sort, sort);
    }
}

#[tokio::test]
async fn a_listing_accepts_page_sizes_from_1_to_100_for_any_staff() {
    for role in [Role::Manager, Role::Admin] {
        for limit in [1, 100] {
            let mut given = Given::new();
            let queries = a_listing(&mut given);
            let service = given.service();

            service
                .list_users(actor(role), page_of(0, limit))
                .await
                .expect("listed");

            assert_eq!(queries.only().limit, limit, "{role}");
        }
        for limit in [0, 101] {
            let mut given = Given::new();
            given.users.expect_list().never();
            let service = given.service();

            let result = service.list_users(actor(role), page_of(0, limit)).await;

            assert!(
                matches!(&result, Err(Error::Validation(errors)) if errors.0[0].field == "limit"),
                "{role} limit {limit}: {result:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn only_an_admin_reads_the_audit_log() {
    for role in [Role::Anonymous, Role::Authenticated, Role::Manager] {
        let mut given = Given::new();
        given.audit.expect_list().never();
        let service = given.service();

        let result = service
            .list_audit_events(actor(role), an_audit_query(10))
            .await;

        assert!(
            matches!(result, Err(Error::Forbidden)),
            "{role}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_admin_reads_the_audit_log_with_the_query_as_given() {
    let query = an_audit_query(20);
    let record = AuditRecord {
        id: 7,
        at: now(),
        event: role_changed_event(
            Some(UserId::new()),
            query.user_id.expect("a user"),
            Role::Authenticated,
            Role::Manager,
        ),
    };
    let mut given = Given::new();
    let answer = record.clone();
    given
        .audit
        .expect_list()
        .with(eq(query.clone()))
        .times(1)
        .returning(move |_| {
            Ok(Page {
                items: vec![answer.clone()],
                total: 41,
            })
        });
    let service = given.service();

    let page = service
        .list_audit_events(actor(Role::Admin), query)
        .await
        .expect("listed");

    assert_eq!(page.items, vec![record]);
    assert_eq!(page.total, 41);
}

#[tokio::test]
async fn the_audit_log_takes_page_sizes_from_1_to_100() {
    for limit in [1, 100] {
        let mut given = Given::new();
        given
            .audit
            .expect_list()
            .withf(move |query| query.limit == limit)
            .times(1)
            .returning(|_| {
                Ok(Page {
                    items: Vec::new(),
                    total: 0,
                })
            });
        let service = given.service();

        let result = service
            .list_audit_events(actor(Role::Admin), an_audit_query(limit))
            .await;

        assert!(result.is_ok(), "limit {limit}: {result:?}");
    }
    for limit in [0, 101] {
        let mut given = Given::new();
        given.audit.expect_list().never();
        let service = given.service();

        let result = service
            .list_audit_events(actor(Role::Admin), an_audit_query(limit))
            .await;

        assert!(
            matches!(&result, Err(Error::Validation(errors)) if errors.0[0].field == "limit"),
            "limit {limit}: {result:?}"
        );
    }
}

#[tokio::test]
async fn the_audit_log_reports_an_unreachable_store_as_unavailable() {
    let mut given = Given::new();
    given
        .audit
        .expect_list()
        .returning(|_| Err(RepoError::Unavailable(anyhow::anyhow!("pool exhausted"))));
    let service = given.service();

    let result = service
        .list_audit_events(actor(Role::Admin), an_audit_query(10))
        .await;

    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}
