//! The test-database helper and the start-up helpers.

use diesel::{QueryDsl as _, dsl::count_star};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use um_postgres::{TestDatabase, connect, create_database_if_missing, run_migrations, schema};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| SERVER.to_owned())
}

/// Whether a database of this name exists on the test server.
async fn exists(name: &str) -> bool {
    let mut conn = AsyncPgConnection::establish(&server_url())
        .await
        .expect("connecting to the test server");
    diesel::sql_query(format!(
        "SELECT 1 AS one FROM pg_database WHERE datname = '{name}'"
    ))
    .execute(&mut conn)
    .await
    .expect("querying pg_database")
        == 1
}

fn url_of(name: &str) -> String {
    let mut url = url::Url::parse(&server_url()).expect("a valid server URL");
    url.set_path(&format!("/{name}"));
    url.into()
}

#[tokio::test]
async fn each_test_database_is_fresh_migrated_and_dropped_afterwards() {
    let first = TestDatabase::new().await;
    let second = TestDatabase::new().await;
    assert_ne!(
        first.name(),
        second.name(),
        "every test gets a database of its own"
    );
    assert!(first.name().starts_with("um_test_"));
    assert!(first.url().ends_with(first.name()));

    let pool = connect(first.url(), 2).await.expect("a pool");
    let mut conn = pool.get().await.expect("a connection to the new database");
    let users: i64 = schema::users::table
        .select(count_star())
        .get_result(&mut conn)
        .await
        .expect("the users table exists: the database is migrated");
    assert_eq!(users, 0, "and empty");
    drop(conn);
    drop(pool);

    let name = first.name().to_owned();
    assert!(exists(&name).await);
    drop(first);
    assert!(
        !exists(&name).await,
        "dropping the value drops the database"
    );
}

#[tokio::test]
async fn running_the_migrations_again_changes_nothing() {
    let db = TestDatabase::new().await;
    run_migrations(db.url())
        .await
        .expect("a second run succeeds");
}

#[tokio::test]
async fn a_missing_database_is_created_once() {
    let name = format!("um_test_{}_created", uuid::Uuid::new_v4().simple());
    let url = url_of(&name);
    assert!(!exists(&name).await);

    create_database_if_missing(&url).await.expect("created");
    assert!(exists(&name).await, "the database now exists");
    create_database_if_missing(&url)
        .await
        .expect("an existing database is fine");

    // Several creators at once: all succeed.
    let other = url_of(&format!("{name}_2"));
    let results = tokio::join!(
        create_database_if_missing(&other),
        create_database_if_missing(&other),
        create_database_if_missing(&other),
    );
    assert!(
        results.0.is_ok() && results.1.is_ok() && results.2.is_ok(),
        "concurrent creators all succeed: {results:?}"
    );

    run_migrations(&url)
        .await
        .expect("a created database can be migrated");

    let mut conn = AsyncPgConnection::establish(&server_url())
        .await
        .expect("connecting to the test server");
    for created in [name.clone(), format!("{name}_2")] {
        diesel::sql_query(format!("DROP DATABASE \"{created}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .expect("cleaning up");
    }
}
