//! Fills a fresh database with 100,000 users (and 200,000 audit events) and prints the plans
//! PostgreSQL chooses for the listings' queries, exactly as the adapters send them:
//!
//! ```text
//! cargo run -p um-postgres --example query_plans --features test-support [-- --baseline]
//! ```
//!
//! With `--baseline`, the users indexes that `migrations/…_search_and_audit` adds are dropped
//! first, to compare.
//!
//! The database is created on the server `TEST_DATABASE_URL` points at (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped at the end. The findings are in
//! `docs/search-query-plans.md`.

use chrono::{DateTime, Utc};
use diesel::{QueryableByName, sql_query, sql_types::Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use um_domain::{
    model::{AuditKind, Role, UserId},
    ports::{AuditQuery, UserFilter, UserQuery, UserSort},
};
use um_postgres::{
    TestDatabase,
    explain::{ListingPlans, explain_audit_listing, explain_user_listing},
};

const USERS: u32 = 100_000;

/// Measured runs of each query.
const RUNS: usize = 5;

/// The indexes on `users` that the search migration adds.
const SEARCH_INDEXES: [&str; 5] = [
    "users_email_trgm_idx",
    "users_nickname_trgm_idx",
    "users_first_name_trgm_idx",
    "users_last_name_trgm_idx",
    "users_locked_created_at_id_idx",
];

/// 100,000 users with independent, seeded random attributes: 20 first names × 30 last names, a
/// sequence number making email and nickname unique; 20 % without a first name, 1 in 7 without a
/// last name; 0.5 % locked, 10 % PRO, 90 % verified; 0.1 % ADMIN, 0.9 % MANAGER, 9 % ANONYMOUS;
/// one created every 15 minutes from 2024 on, with some jitter.
const FILL_USERS: &str = "
INSERT INTO users (id, email, nickname, first_name, last_name, role, is_professional,
                   email_verified, is_locked, failed_login_attempts, hashed_password,
                   created_at, updated_at)
SELECT gen_random_uuid(),
       fn || '.' || ln || i || '@' || domain,
       left(fn || '_' || ln, 22) || '_' || i,
       CASE WHEN r_first < 0.2 THEN NULL ELSE initcap(fn) END,
       CASE WHEN r_last < 1.0 / 7 THEN NULL ELSE initcap(ln) END,
       CASE WHEN r_role < 0.001 THEN 'ADMIN' WHEN r_role < 0.01 THEN 'MANAGER'
            WHEN r_role < 0.1 THEN 'ANONYMOUS' ELSE 'AUTHENTICATED' END,
       r_pro < 0.1,
       r_verified >= 0.1,
       r_locked < 0.005,
       CASE WHEN r_locked < 0.005 THEN 5 ELSE 0 END,
       '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
       ts, ts
FROM (
    SELECT i,
           (ARRAY['ada', 'alan', 'grace', 'linus', 'ken', 'dennis', 'barbara', 'edsger', 'donald',
                  'margaret', 'john', 'frances', 'tim', 'radia', 'guido', 'bjarne', 'james',
                  'anita', 'niklaus', 'leslie'])[1 + floor(random() * 20)::int] AS fn,
           (ARRAY['lovelace', 'turing', 'hopper', 'torvalds', 'thompson', 'ritchie', 'liskov',
                  'dijkstra', 'knuth', 'hamilton', 'mccarthy', 'allen', 'berners', 'perlman',
                  'rossum', 'stroustrup', 'gosling', 'borg', 'wirth', 'lamport', 'smith', 'jones',
                  'garcia', 'nguyen', 'kim', 'mueller', 'obrien', 'dubois', 'rossi',
                  'tanaka'])[1 + floor(random() * 30)::int] AS ln,
           (ARRAY['example.com', 'mail.org', 'corp.net', 'uni.edu'])[1 + floor(random() * 4)::int]
               AS domain,
           random() AS r_first, random() AS r_last, random() AS r_role, random() AS r_pro,
           random() AS r_verified, random() AS r_locked,
           timestamptz '2024-01-01' + i * interval '15 minutes' + floor(random() * 600) * interval '1 second' AS ts
    FROM generate_series(1, $USERS) AS i
) AS generated";

/// Two events per user: actors are the system, the user, or one of the ADMINs; kinds cycle.
const FILL_AUDIT: &str = "
INSERT INTO audit_events (at, actor_id, target_user_id, kind, details)
SELECT u.created_at + k * interval '1 day',
       CASE (u.n + k) % 3 WHEN 0 THEN NULL WHEN 1 THEN u.id
            ELSE admins.ids[1 + u.n % cardinality(admins.ids)] END,
       u.id,
       (ARRAY['role_changed', 'locked', 'unlocked', 'pro_status_changed', 'user_deleted',
              'user_updated', 'picture_changed', 'picture_deleted'])[1 + (u.n * 2 + k) % 8],
       '{\"is_locked\": {\"before\": \"false\", \"after\": \"true\"}}'
FROM (SELECT id, created_at, row_number() OVER (ORDER BY created_at) AS n FROM users) AS u
CROSS JOIN generate_series(1, 2) AS k
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE role = 'ADMIN') AS admins
ORDER BY 1";

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let baseline = std::env::args().any(|arg| arg == "--baseline");
    let db = TestDatabase::new().await;
    let mut conn = AsyncPgConnection::establish(db.url()).await?;
    if baseline {
        sql_query(format!("DROP INDEX {}", SEARCH_INDEXES.join(", ")))
            .execute(&mut conn)
            .await?;
    }
    fill(&mut conn).await?;

    let version: Vec<Line> = sql_query("SELECT version() AS line")
        .load(&mut conn)
        .await?;
    println!(
        "# Query plans on {USERS} users{}\n",
        if baseline {
            ", without the search indexes"
        } else {
            ""
        }
    );
    for Line { line } in version {
        println!("{line}\n");
    }
    print_index_sizes(&mut conn).await?;

    // Once to warm the cache, then the fastest of a few runs: the machine may be busy.
    for (title, query) in user_cases() {
        explain_user_listing(&mut conn, &query).await?;
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(explain_user_listing(&mut conn, &query).await?);
        }
        print_plans(&title, &fastest(runs));
    }
    for (title, query) in audit_cases(&mut conn).await? {
        explain_audit_listing(&mut conn, &query).await?;
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(explain_audit_listing(&mut conn, &query).await?);
        }
        print_plans(&title, &fastest(runs));
    }
    drop(conn);
    drop(db);
    Ok(())
}

async fn fill(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    sql_query("SELECT setseed(0.42)").execute(conn).await?;
    sql_query(FILL_USERS.replace("$USERS", &USERS.to_string()))
        .execute(conn)
        .await?;
    sql_query(FILL_AUDIT).execute(conn).await?;
    // As autovacuum would leave them: statistics gathered, the visibility map set.
    sql_query("VACUUM ANALYZE users, audit_events")
        .execute(conn)
        .await?;
    eprintln!("filled in {:?}", started.elapsed());
    Ok(())
}

async fn print_index_sizes(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let sizes: Vec<Line> = sql_query(
        "SELECT format('%-36s %s', c.relname, pg_size_pretty(pg_relation_size(c.oid))) AS line \
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
         JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relname IN ('users', 'audit_events') ORDER BY t.relname DESC, c.relname",
    )
    .load(conn)
    .await?;
    println!("## Index sizes\n\n```text");
    for Line { line } in sizes {
        println!("{line}");
    }
    println!("```\n");
    Ok(())
}

/// The fastest page plan and the fastest count plan of `runs`.
fn fastest(runs: Vec<ListingPlans>) -> ListingPlans {
    fn execution_ms(plan: &str) -> f64 {
        plan.lines()
            .find_map(|line| line.trim().strip_prefix("Execution Time: "))
            .and_then(|rest| rest.trim_end_matches(" ms").parse().ok())
            .unwrap_or(f64::INFINITY)
    }
    let pick = |plans: Vec<String>| {
        plans
            .into_iter()
            .min_by(|a, b| execution_ms(a).total_cmp(&execution_ms(b)))
            .unwrap_or_default()
    };
    let (pages, counts) = runs.into_iter().map(|p| (p.page, p.count)).unzip();
    ListingPlans {
        page: pick(pages),
        count: pick(counts),
    }
}

fn print_plans(title: &str, plans: &ListingPlans) {
    println!(
        "## {title}\n\n```text\n-- page\n{}\n-- count\n{}\n```\n",
        plans.page, plans.count
    );
}

fn listing(filter: UserFilter, sort: UserSort) -> UserQuery {
    UserQuery {
        skip: 0,
        limit: 10,
        filter,
        sort,
    }
}

fn searching(q: &str) -> UserFilter {
    UserFilter {
        q: Some(q.to_owned()),
        ..UserFilter::default()
    }
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().expect("a valid RFC 3339 time")
}

fn user_cases() -> Vec<(String, UserQuery)> {
    let none = UserFilter::default;
    let mut cases = vec![
        (
            "no filter, -created_at (the default)".to_owned(),
            listing(none(), UserSort::CreatedAtDesc),
        ),
        (
            "q = \"32389\" (a few matches)".to_owned(),
            listing(searching("32389"), UserSort::CreatedAtDesc),
        ),
        (
            "q = \"TORVALDS4\" (~350 matches, upper case)".to_owned(),
            listing(searching("TORVALDS4"), UserSort::CreatedAtDesc),
        ),
        (
            "q = \"lovelace\" (~3,300 matches)".to_owned(),
            listing(searching("lovelace"), UserSort::CreatedAtDesc),
        ),
        (
            "q = \"example\" (25,000 matches)".to_owned(),
            listing(searching("example"), UserSort::CreatedAtDesc),
        ),
        (
            "q = \"ad\" (two characters: no trigram)".to_owned(),
            listing(searching("ad"), UserSort::CreatedAtDesc),
        ),
        (
            "q = \"32389\", sort email".to_owned(),
            listing(searching("32389"), UserSort::EmailAsc),
        ),
        (
            "roles = MANAGER, ADMIN (1 %)".to_owned(),
            listing(
                UserFilter {
                    roles: Some(vec![Role::Manager, Role::Admin]),
                    ..none()
                },
                UserSort::CreatedAtDesc,
            ),
        ),
        (
            "roles = AUTHENTICATED (90 %)".to_owned(),
            listing(
                UserFilter {
                    roles: Some(vec![Role::Authenticated]),
                    ..none()
                },
                UserSort::CreatedAtDesc,
            ),
        ),
        (
            "is_locked = true (0.5 %)".to_owned(),
            listing(
                UserFilter {
                    is_locked: Some(true),
                    ..none()
                },
                UserSort::CreatedAtDesc,
            ),
        ),
        (
            "is_locked = true, sort email".to_owned(),
            listing(
                UserFilter {
                    is_locked: Some(true),
                    ..none()
                },
                UserSort::EmailAsc,
            ),
        ),
        (
            "is_locked = false".to_owned(),
            listing(
                UserFilter {
                    is_locked: Some(false),
                    ..none()
                },
                UserSort::CreatedAtDesc,
            ),
        ),
        (
            "is_professional = true (10 %)".to_owned(),
            listing(
                UserFilter {
                    is_professional: Some(true),
                    ..none()
                },
                UserSort::CreatedAtDesc,
            ),
        ),
        (
            "email_verified = false (10 %)".to_owned(),
            listing(
                UserFilter {
                    email_verified: Some(false),
                    ..none()
                },
                UserSort::CreatedAtDesc,
            ),
        ),
        (
            "created in January 2025 (~3,000)".to_owned(),
            listing(
                UserFilter {
                    created_from: Some(at("2025-01-01T00:00:00Z")),
                    created_to: Some(at("2025-01-31T23:59:59Z")),
                    ..none()
                },
                UserSort::CreatedAtDesc,
            ),
        ),
        (
            "combined: q = \"grace\", AUTHENTICATED, PRO, verified, since 2025, sort -nickname"
                .to_owned(),
            listing(
                UserFilter {
                    q: Some("grace".to_owned()),
                    roles: Some(vec![Role::Authenticated]),
                    is_professional: Some(true),
                    email_verified: Some(true),
                    created_from: Some(at("2025-01-01T00:00:00Z")),
                    ..none()
                },
                UserSort::NicknameDesc,
            ),
        ),
    ];
    for sort in UserSort::ALL {
        cases.push((
            format!("sort {}, page 1", sort.as_str()),
            listing(none(), sort),
        ));
    }
    for sort in [UserSort::CreatedAtDesc, UserSort::EmailAsc] {
        cases.push((
            format!("sort {}, skip 50,000", sort.as_str()),
            UserQuery {
                skip: 50_000,
                ..listing(none(), sort)
            },
        ));
    }
    cases
}

async fn audit_cases(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<(String, AuditQuery)>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    let admin: Id = sql_query("SELECT id FROM users WHERE role = 'ADMIN' ORDER BY id LIMIT 1")
        .get_result(conn)
        .await?;
    let user: Id = sql_query("SELECT id FROM users WHERE role = 'AUTHENTICATED' LIMIT 1")
        .get_result(conn)
        .await?;
    let page = |user_id: Option<uuid::Uuid>, kind: Option<AuditKind>| AuditQuery {
        skip: 0,
        limit: 10,
        user_id: user_id.map(UserId),
        kind,
    };
    Ok(vec![
        ("audit: newest first".to_owned(), page(None, None)),
        (
            "audit: user_id of a user (target or actor, 3 events)".to_owned(),
            page(Some(user.id), None),
        ),
        (
            "audit: user_id of an ADMIN (actor of ~1,000 events)".to_owned(),
            page(Some(admin.id), None),
        ),
        (
            "audit: kind = locked (1/8)".to_owned(),
            page(None, Some(AuditKind::Locked)),
        ),
    ])
}
