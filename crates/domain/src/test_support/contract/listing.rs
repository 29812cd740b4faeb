//! Listing accounts and audit events: order, filters, pages and totals.

#![allow(
    clippy::too_many_lines,
    reason = "a contract test reads best in one piece"
)]

use super::*;
use crate::ports::{AuditRecord, UserFilter, UserQuery};
use std::collections::HashSet;

pub async fn list_pages_newest_first_with_the_total_of_all_matches(h: &dyn Harness) {
    let repo = h.repo();
    let base = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let (mut user, _) = new_user(&format!("u{i}@example.com"), &format!("user_{i}"));
        user.created_at = base + TimeDelta::seconds(i);
        user.role = if i % 2 == 0 {
            Role::Anonymous
        } else {
            Role::Manager
        };
        ids.push(repo.insert(user).await.expect("insert").id);
    }
    let newest_first: Vec<UserId> = ids.iter().rev().copied().collect();

    let page = repo
        .list(UserQuery {
            skip: 1,
            limit: 2,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(page.total, 5, "total counts every match, not the page");
    assert_eq!(
        page.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        newest_first[1..3].to_vec(),
        "the second and third newest"
    );

    let past_the_end = repo
        .list(UserQuery {
            skip: 10,
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 5);

    let managers = repo
        .list(UserQuery {
            skip: 0,
            limit: 10,
            filter: UserFilter {
                roles: Some(vec![Role::Manager]),
                ..UserFilter::default()
            },
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(managers.total, 2);
    assert_eq!(
        managers.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ids[3], ids[1]],
        "only MANAGERs, newest first"
    );

    let both = repo
        .list(UserQuery {
            skip: 0,
            limit: 10,
            filter: UserFilter {
                roles: Some(vec![Role::Manager, Role::Anonymous]),
                ..UserFilter::default()
            },
            ..UserQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(both.total, 5);
    assert_eq!(
        both.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        newest_first
    );
}

pub async fn list_breaks_ties_in_creation_time_by_id(h: &dyn Harness) {
    let repo = h.repo();
    let at = now();
    let mut ids = HashSet::new();
    for i in 0..4 {
        let (mut user, _) = new_user(&format!("t{i}@example.com"), &format!("tie_{i}"));
        user.created_at = at;
        ids.insert(repo.insert(user).await.expect("insert").id);
    }
    let first = repo
        .list(UserQuery {
            skip: 0,
            limit: 2,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    let second = repo
        .list(UserQuery {
            skip: 2,
            limit: 2,
            ..UserQuery::default()
        })
        .await
        .expect("list");
    let seen: Vec<UserId> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|u| u.id)
        .collect();

    let mut expected: Vec<UserId> = ids.into_iter().collect();
    expected.sort_by_key(|id| std::cmp::Reverse(id.0));
    assert_eq!(
        seen, expected,
        "equal times page by id, descending, without overlap"
    );
}

pub async fn the_log_lists_newest_first_by_user_and_kind_with_the_total(h: &dyn Harness) {
    let repo = h.repo();
    let admin = insert_with_role(&*repo, "admin@example.com", "the_admin", Role::Admin).await;
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let bob = verified(&*repo, "bob@example.com", "bob_b").await;
    let recorded = vec![
        event(Some(admin.id), ada.id, AuditKind::RoleChanged, &[]),
        event(None, ada.id, AuditKind::Locked, &[]),
        event(Some(ada.id), ada.id, AuditKind::Unlocked, &[]),
        event(Some(ada.id), bob.id, AuditKind::PictureDeleted, &[]),
        event(Some(admin.id), bob.id, AuditKind::UserUpdated, &[]),
        event(None, bob.id, AuditKind::Locked, &[]),
    ];
    for e in &recorded {
        record(&*repo, e.clone()).await;
    }
    let newest_first: Vec<AuditEvent> = recorded.iter().rev().cloned().collect();

    let list = async |query: AuditQuery| h.audit_log().list(query).await.expect("list");
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

pub async fn the_events_of_one_transaction_share_their_time_and_keep_their_order(h: &dyn Harness) {
    let repo = h.repo();
    let ada = verified(&*repo, "ada@example.com", "ada_l").await;
    let first = event(None, ada.id, AuditKind::RoleChanged, &[]);
    let second = event(None, ada.id, AuditKind::UserUpdated, &[]);
    repo.update(
        ada.id,
        UserChanges {
            audit: vec![first.clone(), second.clone()],
            ..UserChanges::default()
        },
    )
    .await
    .expect("update");
    let page = h
        .audit_log()
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
