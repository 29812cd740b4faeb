//! The operator's commands (`create-admin`, `set-role`, `unlock`, `import-csv`,
//! `import-original`, `export-csv`), run as the built binary against the test's database, their
//! effects checked through the HTTP API.

use std::{path::PathBuf, process::Output};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, id_of};

/// The exit code of an import that skipped rows.
const EXIT_REJECTED: i32 = 3;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that the command succeeded and returns its standard output.
fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Asserts that the command failed (exit code 1) and returns its standard error.
fn failed(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    stderr(output)
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(suffix: &str) -> Self {
        Self(std::env::temp_dir().join(format!("um-cli-{}{suffix}", uuid::Uuid::new_v4())))
    }

    fn with(contents: &str) -> Self {
        let file = Self::new(".csv");
        std::fs::write(&file.0, contents).expect("a temporary file");
        file
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The account with this id, as an ADMIN sees it.
async fn user(app: &TestApp, admin: &str, id: &str) -> Value {
    let response = app.get(&format!("/users/{id}"), Some(admin)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET /users/{id}");
    response.json().await.expect("a user")
}

/// Every account, as an ADMIN sees them.
async fn all_users(app: &TestApp, admin: &str) -> Vec<Value> {
    let page: Value = app
        .get("/users?limit=100", Some(admin))
        .await
        .json()
        .await
        .expect("a page");
    page["items"].as_array().expect("items").clone()
}

async fn find_by_email(app: &TestApp, admin: &str, email: &str) -> Option<Value> {
    all_users(app, admin)
        .await
        .into_iter()
        .find(|u| u["email"].as_str() == Some(email))
}

/// Logs in and returns the token, asserting a 200.
async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let response = app.login_form(email, password).await;
    assert_eq!(response.status(), StatusCode::OK, "login of {email}");
    let body: Value = response.json().await.expect("a token");
    body["access_token"].as_str().expect("a token").to_owned()
}

/// Runs `query` on `url` and returns the first column of the first row as text.
async fn sql_text(url: &str, query: &str) -> String {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("a connection");
    let task = tokio::spawn(connection);
    let row = client.query_one(query, &[]).await.expect("one row");
    let value: String = row.get(0);
    drop(client);
    let _ = task.await;
    value
}

async fn stored_hash(app: &TestApp, email: &str) -> String {
    sql_text(
        app.db.url(),
        &format!("SELECT hashed_password FROM users WHERE lower(email) = lower('{email}')"),
    )
    .await
}

#[tokio::test]
async fn create_admin_takes_the_password_from_stdin_and_the_admin_logs_in() {
    let app = TestApp::spawn_with(&[("FIRST_USER_IS_ADMIN", "false")]).await;
    let first = app.register_ok("first@example.com").await;
    assert_eq!(first["role"], "ANONYMOUS", "no one is promoted");

    let output = app.run_cli_with_stdin(
        &[
            "create-admin",
            "--email",
            "root@example.com",
            "--nickname",
            "the_operator",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let id = succeeded(&output).trim().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "prints the id: {id:?}");

    let token = login(&app, "root@example.com", PASSWORD).await;
    let me: Value = app.get("/me", Some(&token)).await.json().await.expect("me");
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["role"], "ADMIN");
    assert_eq!(me["nickname"], "the_operator");
    assert_eq!(me["email_verified"], true);
    // The ADMIN administers the others.
    assert_eq!(
        user(&app, &token, &id_of(&first)).await["role"],
        "ANONYMOUS"
    );

    // A weak password, an existing email (in any casing), a prompt without a terminal.
    let weak = app.run_cli_with_stdin(
        &[
            "create-admin",
            "--email",
            "other@example.com",
            "--password-stdin",
        ],
        "password\n",
    );
    let message = failed(&weak);
    assert!(message.contains("password"), "{message}");
    assert!(message.contains("upper-case letter"), "{message}");
    let taken = app.run_cli_with_stdin(
        &[
            "create-admin",
            "--email",
            "ROOT@example.com",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let message = failed(&taken);
    assert!(message.contains("exists already"), "{message}");
    let no_terminal = app.run_cli(&["create-admin", "--email", "other@example.com"]);
    let message = failed(&no_terminal);
    assert!(message.contains("--password-stdin"), "{message}");
    let bad_email = app.run_cli_with_stdin(
        &[
            "create-admin",
            "--email",
            "not-an-email",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(failed(&bad_email).contains("invalid email"));
    assert_eq!(
        all_users(&app, &token).await.len(),
        2,
        "nothing else created"
    );
}

#[tokio::test]
async fn set_role_and_unlock_change_what_the_api_shows() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin().await;
    let (ada_id, _) = app.verified_user("ada@example.com").await;
    assert_eq!(user(&app, &admin, &ada_id).await["role"], "AUTHENTICATED");

    let output = app.run_cli(&["set-role", "Ada@Example.com", "MANAGER"]);
    assert!(succeeded(&output).contains("MANAGER"));
    assert_eq!(user(&app, &admin, &ada_id).await["role"], "MANAGER");

    for _ in 0..3 {
        let response = app.login_form("ada@example.com", "Wrong*Passw0rd").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(user(&app, &admin, &ada_id).await["is_locked"], true);
    let refused = app.login_form("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "locked");

    let output = app.run_cli(&["unlock", "ada@example.com"]);
    assert!(succeeded(&output).contains("is unlocked"));
    assert_eq!(user(&app, &admin, &ada_id).await["is_locked"], false);
    login(&app, "ada@example.com", PASSWORD).await;

    // Clear failures.
    assert!(
        failed(&app.run_cli(&["set-role", "nobody@example.com", "ADMIN"]))
            .contains("no account has the email nobody@example.com")
    );
    assert!(
        failed(&app.run_cli(&["set-role", "ada@example.com", "OWNER"])).contains("invalid role")
    );
    assert!(
        failed(&app.run_cli(&["unlock", "nobody@example.com"]))
            .contains("no account has the email")
    );
    assert!(
        failed(&app.run_cli(&["set-role", "admin@example.com", "AUTHENTICATED"]))
            .contains("last ADMIN")
    );
    assert_eq!(user(&app, &admin, &admin_id).await["role"], "ADMIN");
}

#[tokio::test]
async fn import_csv_reports_bad_rows_imports_the_rest_and_can_run_again() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let bob_id = uuid::Uuid::new_v4();
    let bob_hash = bcrypt::hash("Old*Passw0rd1", 4).expect("bcrypt");
    let csv = format!(
        "email,nickname,first_name,bio,role,email_verified,is_professional,password,hashed_password,id,github_profile_url\n\
         grace@example.com,grace_h,Grace,,,true,false,{PASSWORD},,,\n\
         not-an-email,,,,,,,,,,\n\
         bob@example.com,bobby,,,AUTHENTICATED,true,,,{bob_hash},{bob_id},https://github.com/bob\n\
         dan@example.com,dan the man,,,,,,,,,\n\
         eve@example.com,,,,,,,weakpass,,,\n\
         fay@example.com,,,,OWNER,,,,,,\n\
         gus@example.com,,,,,maybe,,,,,\n\
         carol@example.com,,,,,,,,,,\n\
         hal@example.com,hal_9000,Hal,\"line one\nline two, \"\"quoted\"\"\",MANAGER,yes,1,,,,\n\
         ivy@example.com,,,,,,,,,not-a-uuid,\n\
         GRACE@example.com,,,,,,,,,,\n"
    );
    let file = TempFile::with(&csv);

    let first = app.run_cli(&["import-csv", file.path()]);
    assert_eq!(
        first.status.code(),
        Some(EXIT_REJECTED),
        "{}",
        stderr(&first)
    );
    let report = stderr(&first);
    // Line 11 holds the line break of hal's bio; ivy is on line 12, the repeated grace on 13.
    for line in [3, 5, 6, 7, 8, 12, 13] {
        assert!(
            report.contains(&format!("line {line}: ")),
            "line {line} in: {report}"
        );
    }
    for line in [2, 4, 9, 10, 11] {
        assert!(
            !report.contains(&format!("line {line}: ")),
            "line {line} in: {report}"
        );
    }
    assert!(report.contains("line 3: email"), "{report}");
    assert!(report.contains("line 5: nickname"), "{report}");
    assert!(report.contains("line 6: password"), "{report}");
    assert!(report.contains("line 7: role"), "{report}");
    assert!(report.contains("line 8: email_verified"), "{report}");
    assert!(report.contains("line 12: id"), "{report}");
    assert!(
        report.contains("line 13: email: repeats the email of line 2"),
        "{report}"
    );
    assert_eq!(
        stdout(&first).trim(),
        "imported 4, already present 0, bad 7"
    );

    // The good rows, through the API.
    let bob = user(&app, &admin, &bob_id.to_string()).await;
    assert_eq!(bob["email"], "bob@example.com");
    assert_eq!(bob["nickname"], "bobby");
    assert_eq!(bob["role"], "AUTHENTICATED");
    assert_eq!(bob["email_verified"], true);
    assert_eq!(bob["github_profile_url"], "https://github.com/bob");
    let grace = find_by_email(&app, &admin, "grace@example.com")
        .await
        .expect("grace imported");
    assert_eq!(grace["nickname"], "grace_h");
    assert_eq!(grace["first_name"], "Grace");
    assert_eq!(grace["role"], "AUTHENTICATED");
    let hal = find_by_email(&app, &admin, "hal@example.com")
        .await
        .expect("hal imported");
    assert_eq!(hal["role"], "MANAGER");
    assert_eq!(hal["bio"], "line one\nline two, \"quoted\"");
    assert_eq!(hal["is_professional"], true);
    let carol = find_by_email(&app, &admin, "carol@example.com")
        .await
        .expect("carol imported");
    assert_eq!(carol["role"], "ANONYMOUS");
    assert_eq!(carol["email_verified"], false);
    assert!(
        carol["nickname"].as_str().is_some_and(|n| n.len() >= 3),
        "a generated nickname: {carol}"
    );
    for missing in [
        "dan@example.com",
        "eve@example.com",
        "fay@example.com",
        "ivy@example.com",
    ] {
        assert!(
            find_by_email(&app, &admin, missing).await.is_none(),
            "{missing}"
        );
    }

    // The bcrypt row logs in with its old password, and is re-hashed with Argon2id.
    assert!(
        stored_hash(&app, "bob@example.com")
            .await
            .starts_with("$2b$")
    );
    login(&app, "bob@example.com", "Old*Passw0rd1").await;
    let rehashed = stored_hash(&app, "bob@example.com").await;
    assert!(
        rehashed.starts_with("$argon2id$"),
        "stored: {}",
        &rehashed[..10]
    );
    login(&app, "bob@example.com", "Old*Passw0rd1").await;
    // The plain password was hashed with Argon2id at import.
    assert!(
        stored_hash(&app, "grace@example.com")
            .await
            .starts_with("$argon2id$")
    );
    login(&app, "grace@example.com", PASSWORD).await;

    // Again: nothing new.
    let second = app.run_cli(&["import-csv", file.path()]);
    assert_eq!(second.status.code(), Some(EXIT_REJECTED));
    assert_eq!(
        stdout(&second).trim(),
        "imported 0, already present 4, bad 7"
    );
    assert_eq!(all_users(&app, &admin).await.len(), 5);

    // A file that cannot be read, or a header that is wrong, fails as a whole.
    let missing = app.run_cli(&["import-csv", "/nonexistent/users.csv"]);
    assert!(failed(&missing).contains("/nonexistent/users.csv"));
    let typo = TempFile::with("e-mail,nickname\nx@example.com,xavier\n");
    let message = failed(&app.run_cli(&["import-csv", typo.path()]));
    assert!(message.contains("unknown column \"e-mail\""), "{message}");
}

/// A database beside the test's own, dropped when this is.
struct OriginalDatabase {
    name: String,
    url: String,
    server_url: String,
}

impl OriginalDatabase {
    async fn create(app: &TestApp) -> Self {
        let name = format!("um_original_{}", uuid::Uuid::new_v4().simple());
        let server_url = app.db.url().to_owned();
        let url = server_url.replace(app.db.name(), &name);
        sql_batch(&server_url, &format!("CREATE DATABASE \"{name}\"")).await;
        Self {
            name,
            url,
            server_url,
        }
    }
}

impl Drop for OriginalDatabase {
    fn drop(&mut self) {
        let server = self.server_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(sql_batch(&server, &statement));
        })
        .join();
    }
}

async fn sql_batch(url: &str, statements: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("a connection");
    let task = tokio::spawn(connection);
    client
        .batch_execute(statements)
        .await
        .expect("the SQL runs");
    drop(client);
    let _ = task.await;
}

/// The `users` table of the FastAPI original as its SQLAlchemy model and alembic migration
/// describe it: the role is the PostgreSQL enum type "UserRole", most flags are nullable, the
/// nickname may be 50 characters long, and the unique indexes are case-sensitive.
const ORIGINAL_SCHEMA: &str = r#"
CREATE TYPE "UserRole" AS ENUM ('ANONYMOUS', 'AUTHENTICATED', 'MANAGER', 'ADMIN');
CREATE TABLE users (
    id                             uuid          NOT NULL PRIMARY KEY,
    nickname                       varchar(50)   NOT NULL,
    email                          varchar(255)  NOT NULL,
    first_name                     varchar(100),
    last_name                      varchar(100),
    bio                            varchar(500),
    profile_picture_url            varchar(255),
    linkedin_profile_url           varchar(255),
    github_profile_url             varchar(255),
    role                           "UserRole"    NOT NULL,
    is_professional                boolean,
    professional_status_updated_at timestamp with time zone,
    last_login_at                  timestamp with time zone,
    failed_login_attempts          integer,
    is_locked                      boolean,
    created_at                     timestamp with time zone DEFAULT now(),
    updated_at                     timestamp with time zone DEFAULT now(),
    verification_token             varchar,
    email_verified                 boolean       NOT NULL,
    hashed_password                varchar(255)  NOT NULL
);
CREATE UNIQUE INDEX ix_users_email ON users (email);
CREATE UNIQUE INDEX ix_users_nickname ON users (nickname);
"#;

#[tokio::test]
async fn import_original_copies_every_user_once() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let original = OriginalDatabase::create(&app).await;
    let hash = bcrypt::hash("Orig*Passw0rd1", 4).expect("bcrypt");
    let [old_admin, manager, locked, anon, broken, twin, known] =
        std::array::from_fn(|_| uuid::Uuid::new_v4());
    sql_batch(&original.url, ORIGINAL_SCHEMA).await;
    sql_batch(
        &original.url,
        &format!(
            r#"
INSERT INTO users (id, nickname, email, first_name, last_name, bio, profile_picture_url,
                   linkedin_profile_url, github_profile_url, role, is_professional,
                   professional_status_updated_at, last_login_at, failed_login_attempts,
                   is_locked, created_at, updated_at, verification_token, email_verified,
                   hashed_password)
VALUES
 ('{old_admin}', 'old_admin', 'olda@example.com', 'Olga', 'Admin', 'Runs the place',
  'http://minio:9000/pictures/olda.jpg', NULL, 'https://github.com/olga', 'ADMIN', false, NULL,
  '2024-05-01 10:00:00+00', 0, false, '2024-04-01 09:00:00+00', '2024-05-01 10:00:00+00', NULL,
  true, '{hash}'),
 ('{manager}', 'john.doe', 'mgr@example.com', 'John', 'Doe', NULL, NULL, 'not a url', NULL,
  'MANAGER', true, '2024-04-10 12:00:00+00', NULL, 1, false, '2024-04-02 09:00:00+00',
  '2024-04-10 12:00:00+00', NULL, true, '{hash}'),
 ('{locked}', 'locked_user', 'locked@example.com', NULL, NULL, NULL, NULL, NULL, NULL,
  'AUTHENTICATED', false, NULL, NULL, 3, true, '2024-04-03 09:00:00+00',
  '2024-04-03 09:00:00+00', NULL, true, '{hash}'),
 ('{anon}', 'anon_user', 'anon@example.com', NULL, NULL, NULL, NULL, NULL, NULL,
  'ANONYMOUS', NULL, NULL, NULL, NULL, NULL, '2024-04-04 09:00:00+00', NULL, 'tok', false,
  '{hash}'),
 ('{broken}', 'broken_mail', 'broken@@example', NULL, NULL, NULL, NULL, NULL, NULL,
  'AUTHENTICATED', false, NULL, NULL, 0, false, '2024-04-05 09:00:00+00',
  '2024-04-05 09:00:00+00', NULL, true, '{hash}'),
 ('{twin}', 'Old_Admin', 'twin@example.com', NULL, NULL, NULL, NULL, NULL, NULL,
  'AUTHENTICATED', false, NULL, NULL, 0, false, '2024-04-06 09:00:00+00',
  '2024-04-06 09:00:00+00', NULL, true, '{hash}'),
 ('{known}', 'known_one', 'ADMIN@example.com', NULL, NULL, NULL, NULL, NULL, NULL,
  'AUTHENTICATED', false, NULL, NULL, 0, false, '2024-04-07 09:00:00+00',
  '2024-04-07 09:00:00+00', NULL, true, '{hash}');
"#
        ),
    )
    .await;

    let first = app.run_cli(&["import-original", &original.url]);
    assert_eq!(
        first.status.code(),
        Some(EXIT_REJECTED),
        "{}",
        stderr(&first)
    );
    let out = stdout(&first);
    assert!(
        out.contains("imported 5, already present 1, skipped 1 (of 7 users in the original)"),
        "{out}"
    );
    assert!(
        out.contains("1 users had a profile picture URL; pictures are not copied"),
        "{out}"
    );
    let report = stderr(&first);
    assert!(
        report.contains(&format!("user {broken} (broken@@example): skipped: email")),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "user {manager} (mgr@example.com): nickname: \"john.doe\""
        )),
        "{report}"
    );
    assert!(report.contains("linkedin_profile_url"), "{report}");
    assert!(
        report.contains(&format!(
            "user {twin} (twin@example.com): nickname: Old_Admin is taken"
        )),
        "{report}"
    );

    // Roles mapped, flags and timestamps kept.
    let olga = user(&app, &admin, &old_admin.to_string()).await;
    assert_eq!(olga["role"], "ADMIN");
    assert_eq!(olga["nickname"], "old_admin");
    assert_eq!(olga["email_verified"], true);
    assert_eq!(olga["github_profile_url"], "https://github.com/olga");
    assert_eq!(
        olga["profile_picture_url"],
        Value::Null,
        "pictures are not copied"
    );
    assert_eq!(olga["created_at"], "2024-04-01T09:00:00Z");
    assert_eq!(olga["last_login_at"], "2024-05-01T10:00:00Z");
    let john = user(&app, &admin, &manager.to_string()).await;
    assert_eq!(john["role"], "MANAGER");
    assert_eq!(john["is_professional"], true);
    assert_eq!(
        john["professional_status_updated_at"],
        "2024-04-10T12:00:00Z"
    );
    assert_eq!(
        john["linkedin_profile_url"],
        Value::Null,
        "the bad URL is dropped"
    );
    assert_eq!(john["first_name"], "John");
    let nickname = john["nickname"].as_str().expect("a nickname");
    assert_ne!(nickname, "john.doe");
    assert!(
        nickname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    );
    let locked_user = user(&app, &admin, &locked.to_string()).await;
    assert_eq!(locked_user["is_locked"], true);
    let anon_user = user(&app, &admin, &anon.to_string()).await;
    assert_eq!(anon_user["role"], "ANONYMOUS");
    assert_eq!(anon_user["is_locked"], false);
    assert_eq!(anon_user["is_professional"], false);
    assert_eq!(
        anon_user["updated_at"], "2024-04-04T09:00:00Z",
        "from created_at"
    );
    let twin_user = user(&app, &admin, &twin.to_string()).await;
    assert_ne!(twin_user["nickname"], "Old_Admin");
    let missing = app.get(&format!("/users/{broken}"), Some(&admin)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing = app.get(&format!("/users/{known}"), Some(&admin)).await;
    assert_eq!(
        missing.status(),
        StatusCode::NOT_FOUND,
        "the email was ours already"
    );

    // The bcrypt hash works, and becomes Argon2id; the locked user stays locked out.
    login(&app, "olda@example.com", "Orig*Passw0rd1").await;
    assert!(
        stored_hash(&app, "olda@example.com")
            .await
            .starts_with("$argon2id$")
    );
    let refused = app.login_form("locked@example.com", "Orig*Passw0rd1").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let failures = sql_text(
        app.db.url(),
        &format!("SELECT failed_login_attempts::text FROM users WHERE id = '{locked}'"),
    )
    .await;
    assert_eq!(failures, "3");

    // Again: nothing new.
    let second = app.run_cli(&["import-original", &original.url]);
    assert_eq!(second.status.code(), Some(EXIT_REJECTED));
    assert!(
        stdout(&second).contains("imported 0, already present 6, skipped 1"),
        "{}",
        stdout(&second)
    );
    assert_eq!(all_users(&app, &admin).await.len(), 6);

    // An unreachable original is a clear failure.
    let message = failed(&app.run_cli(&[
        "import-original",
        &original.url.replace(&original.name, "um_no_such_database"),
    ]));
    assert!(
        message.contains("connecting to the original database"),
        "{message}"
    );
}

#[tokio::test]
async fn export_csv_round_trips_without_password_hashes() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let hash = bcrypt::hash("Old*Passw0rd1", 4).expect("bcrypt");
    let file = TempFile::with(&format!(
        "email,nickname,first_name,last_name,bio,linkedin_profile_url,github_profile_url,role,email_verified,is_professional,hashed_password\n\
         zed@example.com,zed_z,Zed,Zedson,\"a bio, with a comma\nand a line\",https://linkedin.com/in/zed,,MANAGER,true,true,{hash}\n\
         Amy@Example.com,amy_a,,,,,https://github.com/amy,,false,false,\n"
    ));
    assert_eq!(
        succeeded(&app.run_cli(&["import-csv", file.path()])).trim(),
        "imported 2, already present 0, bad 0"
    );

    let exported = TempFile::new(".csv");
    let output = app.run_cli(&["export-csv", exported.path()]);
    succeeded(&output);
    assert!(
        stderr(&output).contains("exported 3 users"),
        "{}",
        stderr(&output)
    );
    let text = std::fs::read_to_string(&exported.0).expect("the export");
    let to_stdout = succeeded(&app.run_cli(&["export-csv"]));
    assert_eq!(to_stdout, text, "the same to standard output");
    assert!(
        !text.contains("$2b$") && !text.contains("$argon2"),
        "no hashes: {text}"
    );

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "id",
            "email",
            "nickname",
            "first_name",
            "last_name",
            "bio",
            "linkedin_profile_url",
            "github_profile_url",
            "role",
            "email_verified",
            "is_professional"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a record")).collect();
    let emails: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(
        emails,
        ["admin@example.com", "Amy@Example.com", "zed@example.com"],
        "ordered by email without regard to case"
    );
    let zed = &rows[2];
    let zed_api = find_by_email(&app, &admin, "zed@example.com")
        .await
        .expect("zed");
    assert_eq!(&zed[0], zed_api["id"].as_str().expect("id"));
    assert_eq!(
        zed.iter().skip(2).collect::<Vec<_>>(),
        [
            "zed_z",
            "Zed",
            "Zedson",
            "a bio, with a comma\nand a line",
            "https://linkedin.com/in/zed",
            "",
            "MANAGER",
            "true",
            "true"
        ]
    );
    assert_eq!(
        rows[1].iter().skip(2).collect::<Vec<_>>(),
        [
            "amy_a",
            "",
            "",
            "",
            "",
            "https://github.com/amy",
            "ANONYMOUS",
            "false",
            "false"
        ]
    );

    // Imported elsewhere, the export gives the same accounts back, ids included.
    let other = TestApp::spawn_with(&[("FIRST_USER_IS_ADMIN", "false")]).await;
    assert_eq!(
        succeeded(&other.run_cli(&["import-csv", exported.path()])).trim(),
        "imported 3, already present 0, bad 0"
    );
    assert_eq!(succeeded(&other.run_cli(&["export-csv"])), text);
    // Without a hash, the accounts get in through a password reset, not with a password.
    let refused = other.login_form("zed@example.com", "Old*Passw0rd1").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}
