//! `PgUserRepository::list`: every filter alone and combined, every order, paging and the
//! total, against a real PostgreSQL, one fresh database per test.

mod common;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::{PasswordHash, Profile, ProfileField, Role, User, UserId},
    ports::{NewUser, Page, UserFilter, UserQuery, UserRepository, UserSort},
};
use um_postgres::schema::users;

use common::{Fixture, fixture_with_pool_size};
use um_domain::test_support::contract::{email, nickname};

/// The shared fixture over a pool of up to 4 connections.
async fn fixture() -> Fixture {
    fixture_with_pool_size(4).await
}

/// A fixed instant at the microsecond precision PostgreSQL stores.
fn base() -> DateTime<Utc> {
    "2026-01-15T12:00:00.123456Z"
        .parse::<DateTime<Utc>>()
        .expect("a valid time")
        .duration_trunc(TimeDelta::microseconds(1))
        .expect("truncating to microseconds")
}

/// An account to store; `Spec::new` gives a plain one, the builder methods change one thing.
#[derive(Clone)]
struct Spec {
    email: String,
    nickname: String,
    first_name: Option<String>,
    last_name: Option<String>,
    role: Role,
    email_verified: bool,
    is_locked: bool,
    is_professional: bool,
    created_at: DateTime<Utc>,
}

impl Spec {
    fn new(email: &str, nickname: &str) -> Self {
        Self {
            email: email.to_owned(),
            nickname: nickname.to_owned(),
            first_name: None,
            last_name: None,
            role: Role::Authenticated,
            email_verified: true,
            is_locked: false,
            is_professional: false,
            created_at: base(),
        }
    }

    fn names(mut self, first: Option<&str>, last: Option<&str>) -> Self {
        self.first_name = first.map(str::to_owned);
        self.last_name = last.map(str::to_owned);
        self
    }

    fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    fn unverified(mut self) -> Self {
        self.email_verified = false;
        self
    }

    fn locked(mut self) -> Self {
        self.is_locked = true;
        self
    }

    fn professional(mut self) -> Self {
        self.is_professional = true;
        self
    }

    fn created(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = at;
        self
    }
}

/// Stores `spec` and returns the account as stored.
async fn store(f: &Fixture, spec: Spec) -> User {
    let user = f
        .repo
        .insert(NewUser {
            id: UserId::new(),
            email: email(&spec.email),
            nickname: nickname(&spec.nickname),
            profile: Profile::from_texts([
                (ProfileField::FirstName, spec.first_name.as_deref()),
                (ProfileField::LastName, spec.last_name.as_deref()),
            ])
            .expect("a valid test name"),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            role: spec.role,
            email_verified: spec.email_verified,
            promote_if_first: false,
            verification_token: None,
            verification_mail: None,
            created_at: spec.created_at,
        })
        .await
        .expect("inserting a test account");
    if spec.is_locked || spec.is_professional {
        let mut conn = f.pool.get().await.expect("a connection");
        diesel::update(users::table.find(user.id.0))
            .set((
                users::is_locked.eq(spec.is_locked),
                users::is_professional.eq(spec.is_professional),
            ))
            .execute(&mut conn)
            .await
            .expect("setting the flags");
    }
    f.repo
        .find_by_id(user.id)
        .await
        .expect("find_by_id")
        .expect("the account exists")
}

async fn list(f: &Fixture, query: UserQuery) -> Page<User> {
    f.repo.list(query).await.expect("list")
}

/// Every match of `filter` (newest first) and the total.
async fn matches(f: &Fixture, filter: UserFilter) -> (Vec<UserId>, u64) {
    let page = list(
        f,
        UserQuery {
            skip: 0,
            limit: 100,
            filter,
            sort: UserSort::CreatedAtDesc,
        },
    )
    .await;
    (ids(&page.items), page.total)
}

fn ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}

fn sorted(mut ids: Vec<UserId>) -> Vec<UserId> {
    ids.sort_by_key(|id| id.0);
    ids
}

fn q(text: &str) -> UserFilter {
    UserFilter {
        q: Some(text.to_owned()),
        ..UserFilter::default()
    }
}

// ---------------------------------------------------------------------------------------------
// q

#[tokio::test]
async fn q_matches_each_of_the_four_fields_without_regard_to_case() {
    let f = fixture().await;
    let by_email = store(&f, Spec::new("Zed.Quux@Example.com", "alpha")).await;
    let by_nickname = store(&f, Spec::new("b@example.com", "TheQuuxMaster")).await;
    let by_first = store(
        &f,
        Spec::new("c@example.com", "gamma").names(Some("QUUXINE"), None),
    )
    .await;
    let by_last = store(
        &f,
        Spec::new("d@example.com", "delta").names(Some("Dora"), Some("McQuux")),
    )
    .await;
    let _none = store(
        &f,
        Spec::new("e@example.com", "epsilon").names(Some("Eve"), Some("Quu x")),
    )
    .await;

    let all = sorted(vec![by_email.id, by_nickname.id, by_first.id, by_last.id]);
    for text in ["quux", "QUUX", "qUuX"] {
        let (found, total) = matches(&f, q(text)).await;
        assert_eq!(sorted(found), all, "q = {text:?} finds all four fields");
        assert_eq!(total, 4);
    }
    for (text, user, field) in [
        ("zed.q", &by_email, "email"),
        ("xmaster", &by_nickname, "nickname"),
        ("uxine", &by_first, "first name"),
        ("mcq", &by_last, "last name"),
    ] {
        assert_eq!(
            matches(&f, q(text)).await,
            (vec![user.id], 1),
            "q = {text:?} finds the {field}"
        );
    }
    assert_eq!(
        matches(&f, q("EXAMPLE.COM")).await.1,
        5,
        "every email is at example.com"
    );
    let (found, total) = matches(&f, q("nobody")).await;
    assert!(found.is_empty());
    assert_eq!(total, 0);
}

#[tokio::test]
async fn q_takes_percent_underscore_and_backslash_literally() {
    let f = fixture().await;
    let percent = store(&f, Spec::new("100%sure@example.com", "percent")).await;
    let _no_percent = store(&f, Spec::new("1000sure@example.com", "no_percent")).await;
    let underscore = store(&f, Spec::new("u1@example.com", "a_b")).await;
    let _no_underscore = store(&f, Spec::new("u2@example.com", "axb")).await;
    let backslash = store(
        &f,
        Spec::new("s1@example.com", "slash").names(None, Some(r"Back\Slash")),
    )
    .await;
    let _no_backslash = store(
        &f,
        Spec::new("s2@example.com", "noslash").names(None, Some("BackSlash")),
    )
    .await;

    assert_eq!(matches(&f, q("0%s")).await, (vec![percent.id], 1), "%");
    assert_eq!(matches(&f, q("a_b")).await, (vec![underscore.id], 1), "_");
    assert_eq!(
        matches(&f, q(r"k\s")).await,
        (vec![backslash.id], 1),
        "a backslash is a character, not an escape"
    );
    assert_eq!(matches(&f, q("%")).await, (vec![percent.id], 1), "% alone");
    assert_eq!(
        matches(&f, q(r"\")).await,
        (vec![backslash.id], 1),
        "a backslash alone"
    );
}

// ---------------------------------------------------------------------------------------------
// The other filters

/// Six accounts differing in one attribute each from the plain first one.
struct Population {
    plain: User,
    manager: User,
    admin: User,
    locked: User,
    professional: User,
    unverified_anonymous: User,
}

async fn population(f: &Fixture) -> Population {
    let at = |minutes| base() + TimeDelta::minutes(minutes);
    Population {
        plain: store(f, Spec::new("plain@example.com", "plain").created(at(0))).await,
        manager: store(
            f,
            Spec::new("manager@example.com", "the_manager")
                .role(Role::Manager)
                .created(at(1)),
        )
        .await,
        admin: store(
            f,
            Spec::new("admin@example.com", "admin_one")
                .role(Role::Admin)
                .created(at(2)),
        )
        .await,
        locked: store(
            f,
            Spec::new("locked@example.com", "locked")
                .locked()
                .created(at(3)),
        )
        .await,
        professional: store(
            f,
            Spec::new("pro@example.com", "pro")
                .professional()
                .created(at(4)),
        )
        .await,
        unverified_anonymous: store(
            f,
            Spec::new("new@example.com", "newcomer")
                .role(Role::Anonymous)
                .unverified()
                .created(at(5)),
        )
        .await,
    }
}

#[tokio::test]
async fn each_filter_alone_returns_exactly_its_matches_newest_first() {
    let f = fixture().await;
    let p = population(&f).await;
    let everyone = vec![
        p.unverified_anonymous.id,
        p.professional.id,
        p.locked.id,
        p.admin.id,
        p.manager.id,
        p.plain.id,
    ];
    let without = |excluded: &[UserId]| -> Vec<UserId> {
        everyone
            .iter()
            .copied()
            .filter(|id| !excluded.contains(id))
            .collect()
    };
    let cases: Vec<(&str, UserFilter, Vec<UserId>)> = vec![
        ("no filter", UserFilter::default(), everyone.clone()),
        (
            "one role",
            UserFilter {
                roles: Some(vec![Role::Manager]),
                ..UserFilter::default()
            },
            vec![p.manager.id],
        ),
        (
            "two roles",
            UserFilter {
                roles: Some(vec![Role::Admin, Role::Anonymous]),
                ..UserFilter::default()
            },
            vec![p.unverified_anonymous.id, p.admin.id],
        ),
        (
            "no role at all",
            UserFilter {
                roles: Some(Vec::new()),
                ..UserFilter::default()
            },
            Vec::new(),
        ),
        (
            "locked",
            UserFilter {
                is_locked: Some(true),
                ..UserFilter::default()
            },
            vec![p.locked.id],
        ),
        (
            "not locked",
            UserFilter {
                is_locked: Some(false),
                ..UserFilter::default()
            },
            without(&[p.locked.id]),
        ),
        (
            "PRO",
            UserFilter {
                is_professional: Some(true),
                ..UserFilter::default()
            },
            vec![p.professional.id],
        ),
        (
            "not PRO",
            UserFilter {
                is_professional: Some(false),
                ..UserFilter::default()
            },
            without(&[p.professional.id]),
        ),
        (
            "verified",
            UserFilter {
                email_verified: Some(true),
                ..UserFilter::default()
            },
            without(&[p.unverified_anonymous.id]),
        ),
        (
            "unverified",
            UserFilter {
                email_verified: Some(false),
                ..UserFilter::default()
            },
            vec![p.unverified_anonymous.id],
        ),
    ];
    for (case, filter, expected) in cases {
        let (found, total) = matches(&f, filter).await;
        assert_eq!(found, expected, "{case}");
        assert_eq!(total, expected.len() as u64, "{case}: total");
    }
}

#[tokio::test]
async fn the_creation_range_includes_both_ends() {
    let f = fixture().await;
    let t = |micros| base() + TimeDelta::microseconds(micros);
    let before = store(&f, Spec::new("a@example.com", "before").created(t(-1))).await;
    let first = store(&f, Spec::new("b@example.com", "first").created(t(0))).await;
    let middle = store(&f, Spec::new("c@example.com", "middle").created(t(500))).await;
    let last = store(&f, Spec::new("d@example.com", "last").created(t(1000))).await;
    let after = store(&f, Spec::new("e@example.com", "after").created(t(1001))).await;

    let range = |from, to| UserFilter {
        created_from: from,
        created_to: to,
        ..UserFilter::default()
    };
    assert_eq!(
        matches(&f, range(Some(t(0)), Some(t(1000)))).await,
        (vec![last.id, middle.id, first.id], 3),
        "both ends are inclusive, to the microsecond"
    );
    assert_eq!(
        matches(&f, range(Some(t(1000)), None)).await,
        (vec![after.id, last.id], 2),
        "from alone"
    );
    assert_eq!(
        matches(&f, range(None, Some(t(0)))).await,
        (vec![first.id, before.id], 2),
        "to alone"
    );
    assert_eq!(
        matches(&f, range(Some(t(500)), Some(t(500)))).await,
        (vec![middle.id], 1),
        "a range of one instant"
    );
    assert_eq!(
        matches(&f, range(Some(t(1)), Some(t(0)))).await,
        (Vec::new(), 0),
        "an empty range"
    );
}

#[tokio::test]
async fn filters_combine_and_the_total_counts_every_match_not_the_page() {
    let f = fixture().await;
    let at = |minutes| base() + TimeDelta::minutes(minutes);
    let mut wanted = Vec::new();
    for i in 0..5 {
        let user = store(
            &f,
            Spec::new(&format!("grace{i}@example.com"), &format!("grace_{i}"))
                .role(Role::Manager)
                .professional()
                .created(at(i)),
        )
        .await;
        wanted.push(user.id);
    }
    // Each differs from the wanted ones in exactly one respect.
    store(
        &f,
        Spec::new("other@example.com", "other")
            .role(Role::Manager)
            .professional()
            .created(at(2)),
    )
    .await;
    store(
        &f,
        Spec::new("grace.admin@example.com", "grace_admin")
            .role(Role::Admin)
            .professional()
            .created(at(2)),
    )
    .await;
    store(
        &f,
        Spec::new("grace.amateur@example.com", "grace_amateur")
            .role(Role::Manager)
            .created(at(2)),
    )
    .await;
    store(
        &f,
        Spec::new("grace.locked@example.com", "grace_locked")
            .role(Role::Manager)
            .professional()
            .locked()
            .created(at(2)),
    )
    .await;
    store(
        &f,
        Spec::new("grace.new@example.com", "grace_new")
            .role(Role::Manager)
            .professional()
            .unverified()
            .created(at(2)),
    )
    .await;
    store(
        &f,
        Spec::new("grace.late@example.com", "grace_late")
            .role(Role::Manager)
            .professional()
            .created(at(10)),
    )
    .await;

    let filter = UserFilter {
        q: Some("GRACE".to_owned()),
        roles: Some(vec![Role::Manager, Role::Authenticated]),
        is_locked: Some(false),
        is_professional: Some(true),
        email_verified: Some(true),
        created_from: Some(at(0)),
        created_to: Some(at(4)),
    };
    let (found, total) = matches(&f, filter.clone()).await;
    let newest_first: Vec<UserId> = wanted.iter().rev().copied().collect();
    assert_eq!(found, newest_first);
    assert_eq!(total, 5);

    let page = list(
        &f,
        UserQuery {
            skip: 1,
            limit: 2,
            filter: filter.clone(),
            sort: UserSort::CreatedAtDesc,
        },
    )
    .await;
    assert_eq!(ids(&page.items), newest_first[1..3].to_vec());
    assert_eq!(page.total, 5, "the total of every match, not of the page");

    let past_the_end = list(
        &f,
        UserQuery {
            skip: 5,
            limit: 10,
            filter,
            sort: UserSort::CreatedAtDesc,
        },
    )
    .await;
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 5);
}

#[tokio::test]
async fn the_total_is_exact_for_every_page_size_and_offset() {
    // `list` takes the total from the page when no match follows it, and counts otherwise:
    // every combination of a short, exactly full, overfull and past-the-end page.
    let f = fixture().await;
    let mut newest_first = Vec::new();
    for i in 0..3 {
        let at = base() + TimeDelta::minutes(i);
        let user = store(
            &f,
            Spec::new(&format!("needle{i}@example.com"), &format!("needle_{i}")).created(at),
        )
        .await;
        newest_first.insert(0, user.id);
    }
    store(&f, Spec::new("other@example.com", "other")).await;
    for filter in [q("needle"), UserFilter::default()] {
        let all: u64 = if filter.q.is_some() { 3 } else { 4 };
        for limit in 1..=5 {
            for skip in 0..=5 {
                let page = list(
                    &f,
                    UserQuery {
                        skip,
                        limit,
                        filter: filter.clone(),
                        sort: UserSort::CreatedAtDesc,
                    },
                )
                .await;
                let shown = all.saturating_sub(skip).min(limit);
                assert_eq!(page.total, all, "{filter:?}, skip {skip}, limit {limit}");
                assert_eq!(
                    page.items.len() as u64,
                    shown,
                    "{filter:?}, skip {skip}, limit {limit}"
                );
                if filter.q.is_some() {
                    let from = usize::try_from(skip.min(3)).expect("small");
                    let to = usize::try_from((skip + limit).min(3)).expect("small");
                    assert_eq!(ids(&page.items), newest_first[from..to].to_vec());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Orders

/// Pages through every account in `sort` order, `limit` at a time.
async fn page_through(f: &Fixture, sort: UserSort, limit: u64) -> Vec<UserId> {
    let mut seen = Vec::new();
    loop {
        let page = list(
            f,
            UserQuery {
                skip: seen.len() as u64,
                limit,
                filter: UserFilter::default(),
                sort,
            },
        )
        .await;
        if page.items.is_empty() {
            return seen;
        }
        seen.extend(ids(&page.items));
    }
}

#[tokio::test]
async fn email_and_nickname_orders_ignore_case_in_both_directions() {
    let f = fixture().await;
    // Byte order would put the capitals first.
    let specs = [
        ("alice@example.com", "Zora"),
        ("Bob@example.com", "yann"),
        ("carol@example.com", "Xavier"),
        ("DAVE@example.com", "walt"),
        ("erin@example.com", "Vera"),
    ];
    let mut stored = Vec::new();
    for (i, (email, nickname)) in specs.into_iter().enumerate() {
        let at = base() + TimeDelta::minutes(i as i64);
        stored.push(store(&f, Spec::new(email, nickname).created(at)).await);
    }
    let by = |key: fn(&User) -> String| {
        let mut users = stored.clone();
        users.sort_by_key(key);
        ids(&users)
    };
    let by_email = by(|u| u.email.as_str().to_lowercase());
    let by_nickname = by(|u| u.nickname.as_str().to_lowercase());
    let reversed = |ids: &[UserId]| ids.iter().rev().copied().collect::<Vec<_>>();
    assert_eq!(
        by_email,
        ids(&stored),
        "the specs are in email order, case aside"
    );

    for (sort, expected) in [
        (UserSort::EmailAsc, by_email.clone()),
        (UserSort::EmailDesc, reversed(&by_email)),
        (UserSort::NicknameAsc, by_nickname.clone()),
        (UserSort::NicknameDesc, reversed(&by_nickname)),
        (UserSort::CreatedAtAsc, ids(&stored)),
        (UserSort::CreatedAtDesc, reversed(&ids(&stored))),
    ] {
        assert_eq!(
            page_through(&f, sort, 2).await,
            expected,
            "{}",
            sort.as_str()
        );
    }
}

#[tokio::test]
async fn equal_creation_times_are_ordered_by_id_in_the_same_direction_across_pages() {
    let f = fixture().await;
    let mut same_time = Vec::new();
    for i in 0..5 {
        let user = store(
            &f,
            Spec::new(&format!("tie{i}@example.com"), &format!("tie_{i}")),
        )
        .await;
        same_time.push(user.id);
    }
    let earlier = store(
        &f,
        Spec::new("early@example.com", "early").created(base() - TimeDelta::seconds(1)),
    )
    .await;

    let mut ascending = sorted(same_time);
    ascending.insert(0, earlier.id);
    let descending: Vec<UserId> = ascending.iter().rev().copied().collect();
    for limit in [1, 2, 4] {
        assert_eq!(
            page_through(&f, UserSort::CreatedAtAsc, limit).await,
            ascending,
            "created_at, pages of {limit}: ties by id ascending"
        );
        assert_eq!(
            page_through(&f, UserSort::CreatedAtDesc, limit).await,
            descending,
            "-created_at, pages of {limit}: ties by id descending"
        );
    }
}

#[tokio::test]
async fn every_order_pages_without_overlap_or_gap_under_a_filter() {
    let f = fixture().await;
    for i in 0..7 {
        let spec = Spec::new(&format!("user{i}@example.com"), &format!("user_{}", 7 - i))
            .created(base() + TimeDelta::minutes(i % 3));
        let spec = if i % 2 == 0 {
            spec.professional()
        } else {
            spec
        };
        store(&f, spec).await;
    }
    for sort in UserSort::ALL {
        let all = list(
            &f,
            UserQuery {
                skip: 0,
                limit: 100,
                filter: UserFilter {
                    is_professional: Some(true),
                    ..UserFilter::default()
                },
                sort,
            },
        )
        .await;
        assert_eq!(all.total, 4, "{}", sort.as_str());
        let mut paged = Vec::new();
        for skip in 0..4 {
            let page = list(
                &f,
                UserQuery {
                    skip,
                    limit: 1,
                    filter: UserFilter {
                        is_professional: Some(true),
                        ..UserFilter::default()
                    },
                    sort,
                },
            )
            .await;
            assert_eq!(page.total, 4);
            paged.extend(ids(&page.items));
        }
        assert_eq!(paged, ids(&all.items), "{}", sort.as_str());
    }
}
