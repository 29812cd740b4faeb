//! Listing accounts and reading the audit log.

use super::*;

// ---------------------------------------------------------------------------------------------
// Listing accounts: filters, sort and what a MANAGER sees
// ---------------------------------------------------------------------------------------------

/// A listing that uses every filter, paging and a sort other than the default.
fn a_filtered_query(roles: Option<Vec<Role>>) -> UserQuery {
    UserQuery {
        skip: 1,
        limit: 2,
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

/// Eight accounts that pass every filter of [`a_filtered_query`] but the roles, two of each
/// role, in the order of that query's sort (`match_8@…` first; the default sort, newest first,
/// would put `match_1@…` first).
fn matching_accounts() -> Vec<User> {
    let roles = [
        Role::Admin,
        Role::Manager,
        Role::Authenticated,
        Role::Anonymous,
    ];
    (1..=8_i64)
        .rev()
        .zip(roles.into_iter().flat_map(|role| [role, role]))
        .map(|(k, role)| User {
            is_locked: true,
            email_verified: true,
            created_at: now() - TimeDelta::hours(k),
            ..user_called(role, &format!("match_{k}"))
        })
        .collect()
}

/// Plain accounts that each fail exactly one filter of [`a_filtered_query`].
fn decoys() -> Vec<User> {
    let like_a_match = |handle: &str| User {
        is_locked: true,
        email_verified: true,
        created_at: now() - TimeDelta::hours(1),
        ..user_called(Role::Authenticated, handle)
    };
    let mut other_name = like_a_match("decoy_name");
    other_name.profile.last_name = Name::parse("Byron").expect("a valid name");
    vec![
        other_name,
        User {
            is_locked: false,
            ..like_a_match("decoy_unlocked")
        },
        User {
            is_professional: true,
            ..like_a_match("decoy_pro")
        },
        User {
            email_verified: false,
            ..like_a_match("decoy_unverified")
        },
        User {
            created_at: now() - TimeDelta::days(8),
            ..like_a_match("decoy_old")
        },
        User {
            created_at: now() + TimeDelta::hours(1),
            ..like_a_match("decoy_future")
        },
    ]
}

/// `matching` (from [`matching_accounts`]) and the decoys, stored.
fn a_population(matching: &[User]) -> InMemoryRepository {
    let accounts: Vec<User> = matching.iter().cloned().chain(decoys()).collect();
    stored_in_memory(&accounts.iter().collect::<Vec<_>>())
}

/// The page [`a_filtered_query`] with `roles` answers over [`a_population`] of `matching`.
fn expected_page(matching: &[User], roles: Option<&[Role]>) -> Page<User> {
    let matching: Vec<User> = matching
        .iter()
        .filter(|u| roles.is_none_or(|roles| roles.contains(&u.role)))
        .cloned()
        .collect();
    Page {
        total: matching.len() as u64,
        items: matching.into_iter().skip(1).take(2).collect(),
    }
}

#[tokio::test]
async fn the_listing_fixture_tells_the_filters_apart() {
    // Every decoy would be listed without its filter: each filter is needed to leave it out.
    let all = matching_accounts();
    assert_eq!(all.len(), 8);
    for decoy in decoys() {
        let repo = stored_in_memory(&[&decoy]);
        let mut listed = 0;
        let query = a_filtered_query(None);
        let without_each = [
            UserFilter {
                q: None,
                ..query.filter.clone()
            },
            UserFilter {
                is_locked: None,
                ..query.filter.clone()
            },
            UserFilter {
                is_professional: None,
                ..query.filter.clone()
            },
            UserFilter {
                email_verified: None,
                ..query.filter.clone()
            },
            UserFilter {
                created_from: None,
                ..query.filter.clone()
            },
            UserFilter {
                created_to: None,
                ..query.filter.clone()
            },
        ];
        for filter in without_each {
            let page = UserRepository::list(
                &repo,
                UserQuery {
                    filter,
                    ..page_of(0, 10)
                },
            )
            .await
            .expect("listed");
            listed += page.total;
        }
        assert_eq!(listed, 1, "{}", decoy.nickname);
    }
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
        let matching = matching_accounts();
        let repo = a_population(&matching);
        let service = Given::new().service_over(&repo);

        let page = service
            .list_users(actor(Manager), a_filtered_query(asked.clone()))
            .await
            .expect("listed");

        // Only the roles change: paging, the other filters and the sort pass through.
        assert_eq!(
            page,
            expected_page(&matching, narrowed.as_deref()),
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
        let matching = matching_accounts();
        let repo = a_population(&matching);
        let service = Given::new().service_over(&repo);

        let page = service
            .list_users(actor(Role::Admin), a_filtered_query(roles.clone()))
            .await
            .expect("listed");

        assert_eq!(
            page,
            expected_page(&matching, roles.as_deref()),
            "{roles:?}"
        );
    }
}

#[tokio::test]
async fn every_sort_reaches_the_repository() {
    // Three accounts whose emails, nicknames and creation times order them three different
    // ways, so that each of the six sorts lists them in its own order.
    let a = User {
        created_at: now() - TimeDelta::days(2),
        ..user_called(Role::Authenticated, "a_first")
    };
    let b = User {
        email: email("b_second@example.com"),
        nickname: nickname("c_third"),
        created_at: now() - TimeDelta::days(3),
        ..user(Role::Authenticated)
    };
    let c = User {
        email: email("c_third@example.com"),
        nickname: nickname("b_second"),
        created_at: now() - TimeDelta::days(1),
        ..user(Role::Anonymous)
    };
    let repo = stored_in_memory(&[&a, &b, &c]);
    for sort in UserSort::ALL {
        let expected = match sort {
            UserSort::EmailAsc => [&a, &b, &c],
            UserSort::EmailDesc => [&c, &b, &a],
            UserSort::NicknameAsc => [&a, &c, &b],
            UserSort::NicknameDesc => [&b, &c, &a],
            UserSort::CreatedAtAsc => [&b, &a, &c],
            UserSort::CreatedAtDesc => [&c, &a, &b],
        };
        let service = Given::new().service_over(&repo);

        let page = service
            .list_users(
                actor(Role::Manager),
                UserQuery {
                    sort,
                    ..page_of(0, 10)
                },
            )
            .await
            .expect("listed");

        assert_eq!(page.items.iter().collect::<Vec<_>>(), expected, "{sort:?}");
    }
}

#[tokio::test]
async fn a_listing_accepts_page_sizes_from_1_to_100_for_any_staff() {
    let accounts: Vec<User> = ["one_of_3", "two_of_3", "three_of_3"]
        .into_iter()
        .map(|handle| user_called(Role::Authenticated, handle))
        .collect();
    for role in [Role::Manager, Role::Admin] {
        for (limit, listed) in [(1, 1), (100, 3)] {
            let repo = stored_in_memory(&accounts.iter().collect::<Vec<_>>());
            let service = Given::new().service_over(&repo);

            let page = service
                .list_users(actor(role), page_of(0, limit))
                .await
                .expect("listed");

            assert_eq!(page.total, 3, "{role}");
            assert_eq!(page.items.len(), listed, "{role} limit {limit}");
        }
        for limit in [0, 101] {
            // The mock proves that the repository is not asked.
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

/// An audit log holding `count` `role_changed` events of the account `query` asks for, oldest
/// first (the events returned), and, around them, events that `query` does not ask for: another
/// kind for the same account, and the same kind for another account.
async fn an_audit_log_for(
    query: &AuditQuery,
    count: usize,
) -> (InMemoryRepository, Vec<AuditEvent>) {
    let target = User {
        id: query.user_id.expect("a user"),
        ..user(Role::Authenticated)
    };
    let other = user_called(Role::Authenticated, "someone_else");
    let repo = stored_in_memory(&[&target, &other]);
    let admin = Some(UserId::new());
    let asked: Vec<AuditEvent> = (0..count)
        .map(|i| {
            let (before, after) = if i % 2 == 0 {
                (Role::Authenticated, Role::Manager)
            } else {
                (Role::Manager, Role::Authenticated)
            };
            role_changed_event(admin, target.id, before, after)
        })
        .collect();
    let around_before = [
        unlocked_event(admin, target.id),
        role_changed_event(admin, other.id, Role::Authenticated, Role::Manager),
    ];
    let around_after = [unlocked_event(admin, target.id)];
    // Each event in a transaction of its own: an update of its target.
    for event in around_before
        .into_iter()
        .chain(asked.iter().cloned())
        .chain(around_after)
    {
        let target = event.target;
        let changes = UserChanges {
            audit: vec![event],
            ..UserChanges::default()
        };
        repo.update(target, changes).await.expect("appended");
    }
    (repo, asked)
}

#[tokio::test]
async fn only_an_admin_reads_the_audit_log() {
    for role in [Role::Anonymous, Role::Authenticated, Role::Manager] {
        // The mock proves that the log is not read.
        let mut given = Given::new();
        given.audit.expect_list().never();
        let service = given.service();

        let result = service
            .list_audit_events(actor(role), an_audit_query(10))
            .await;

        assert_err!(result, Error::Forbidden, role);
    }
}

#[tokio::test]
async fn an_admin_reads_the_audit_log_with_the_query_as_given() {
    // 41 events asked for; the query skips the 40 newest.
    let query = an_audit_query(20);
    let (repo, asked) = an_audit_log_for(&query, 41).await;
    let service = Given::new().service_over(&repo);

    let page = service
        .list_audit_events(actor(Role::Admin), query)
        .await
        .expect("listed");

    assert_eq!(page.total, 41);
    let events: Vec<AuditEvent> = page.items.into_iter().map(|r| r.event).collect();
    assert_eq!(events, [asked[0].clone()], "the oldest one");
}

#[tokio::test]
async fn the_audit_log_takes_page_sizes_from_1_to_100() {
    // 42 events asked for; the query skips the 40 newest, leaving two.
    for (limit, listed) in [(1, 1), (100, 2)] {
        let query = an_audit_query(limit);
        let (repo, _) = an_audit_log_for(&query, 42).await;
        let service = Given::new().service_over(&repo);

        let page = service
            .list_audit_events(actor(Role::Admin), query)
            .await
            .unwrap_or_else(|e| panic!("limit {limit}: {e:?}"));

        assert_eq!(page.total, 42, "limit {limit}");
        assert_eq!(page.items.len(), listed, "limit {limit}");
    }
    for limit in [0, 101] {
        // The mock proves that the log is not read.
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
    given.audit.expect_list().returning(|_| Err(unavailable()));
    let service = given.service();

    let result = service
        .list_audit_events(actor(Role::Admin), an_audit_query(10))
        .await;

    assert_err!(result, Error::Unavailable(_));
}
