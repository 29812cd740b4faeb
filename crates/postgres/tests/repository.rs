//! `PgUserRepository` against a real PostgreSQL, one fresh database per test: what only the
//! PostgreSQL adapter does. The behaviour every repository shares is the contract suite
//! (`tests/contract.rs`).

mod common;

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::UserId,
    ports::{RepoError, UserRepository},
};
use um_postgres::{PgUserRepository, connect, schema};

use common::fixture;
use um_domain::test_support::contract::new_user;

#[tokio::test]
async fn a_row_that_does_not_parse_is_an_error_not_a_panic() {
    let f = fixture().await;
    let (user, _) = new_user("ada@example.com", "ada_l");
    let user = f
        .repo
        .insert(user)
        .await
        .expect("inserting a fresh account");
    let mut conn = f.pool.get().await.expect("a connection");
    diesel::update(schema::users::table.find(user.id.0))
        .set(schema::users::email.eq("not an email"))
        .execute(&mut conn)
        .await
        .expect("corrupting the row");

    let result = f.repo.find_by_id(user.id).await;
    let Err(RepoError::Other(cause)) = result else {
        panic!("expected Other, got {result:?}");
    };
    let message = format!("{cause:#}");
    assert!(
        message.contains("email"),
        "the cause names the column: {message}"
    );
    assert!(
        !message.contains("not an email"),
        "the cause hides the value: {message}"
    );
}

#[tokio::test]
async fn an_account_stored_under_the_wider_url_rule_still_loads() {
    let f = fixture().await;
    let (user, _) = new_user("ada@example.com", "ada_l");
    let user = f.repo.insert(user).await.expect("inserting an account");
    let mut conn = f.pool.get().await.expect("a connection");
    // What the service took before profile URLs were narrowed to the API document's pattern.
    diesel::update(schema::users::table.find(user.id.0))
        .set(schema::users::github_profile_url.eq("https://1.2.3.4/ada"))
        .execute(&mut conn)
        .await
        .expect("storing an old URL");

    let loaded = f
        .repo
        .find_by_id(user.id)
        .await
        .expect("the account loads")
        .expect("it exists");
    assert_eq!(
        loaded.profile.github_profile_url.map(|u| u.to_string()),
        Some("https://1.2.3.4/ada".to_owned())
    );
}

// ---------------------------------------------------------------------------------------------
// Availability

#[tokio::test]
async fn ping_answers_when_the_database_does() {
    let f = fixture().await;
    f.repo.ping().await.expect("the database answers");
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_quickly() {
    // Nothing listens on port 1.
    let pool = connect("postgres://postgres@127.0.0.1:1/nothing", 2)
        .await
        .expect("a pool is built without connecting");
    let repo = PgUserRepository::new(pool);
    let started = std::time::Instant::now();

    assert!(matches!(repo.ping().await, Err(RepoError::Unavailable(_))));
    assert!(matches!(
        repo.find_by_id(UserId::new()).await,
        Err(RepoError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < um_postgres::CONNECT_TIMEOUT * 3,
        "failing took {:?}",
        started.elapsed()
    );
}
