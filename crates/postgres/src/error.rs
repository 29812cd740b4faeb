//! Translation of diesel and pool errors into the port's [`RepoError`], in one place.
//!
//! Diesel's `Display` of a database error is the server's primary message only (never the
//! `DETAIL` line, which for a check violation would show the failing row and with it the
//! password hash), and nothing here adds bound values, so no error carries a secret.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::{PoolError as ManagerError, deadpool::PoolError};
use um_domain::ports::RepoError;

/// The unique index on `lower(email)`; its violation means [`RepoError::EmailTaken`].
pub(crate) const EMAIL_INDEX: &str = "users_email_lower_key";
/// The unique index on `lower(nickname)`; its violation means [`RepoError::NicknameTaken`].
pub(crate) const NICKNAME_INDEX: &str = "users_nickname_lower_key";

/// What can go wrong inside the repository before it is translated: the type that
/// transactions return, so that a rule (`LastAdmin`, `NotFound`) can abort one.
#[derive(Debug)]
pub(crate) enum TxError {
    Db(DieselError),
    Repo(RepoError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl From<RepoError> for TxError {
    fn from(e: RepoError) -> Self {
        Self::Repo(e)
    }
}

impl From<TxError> for RepoError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Db(e) => from_diesel(e),
            TxError::Repo(e) => e,
        }
    }
}

/// A query's error as the port states it: unique violations on the email and nickname
/// indexes by name, lost connections as `Unavailable`, the rest as `Other` with the cause.
pub(crate) fn from_diesel(e: DieselError) -> RepoError {
    if let DieselError::DatabaseError(kind, info) = &e {
        match kind {
            DatabaseErrorKind::UniqueViolation => match info.constraint_name() {
                Some(EMAIL_INDEX) => return RepoError::EmailTaken,
                Some(NICKNAME_INDEX) => return RepoError::NicknameTaken,
                _ => {}
            },
            // diesel-async reports every client-side failure of tokio-postgres (closed
            // connection, I/O error, timeout) as `UnableToSendCommand`.
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                return RepoError::Unavailable(e.into());
            }
            // The server going away mid-session (SQLSTATE 57P01..57P03: shutdown, restart,
            // recovery) arrives as an error without a kind of its own.
            DatabaseErrorKind::Unknown if is_server_going_away(info.message()) => {
                return RepoError::Unavailable(e.into());
            }
            _ => {}
        }
    }
    RepoError::Other(e.into())
}

fn is_server_going_away(message: &str) -> bool {
    message.starts_with("terminating connection due to administrator command")
        || message.starts_with("the database system is")
}

/// A failure to get a connection from the pool: the storage cannot be reached (timeout,
/// refused or failed connection, closed pool), which is worth retrying later.
pub(crate) fn from_pool(e: PoolError) -> RepoError {
    match e {
        PoolError::Timeout(_)
        | PoolError::Closed
        | PoolError::Backend(ManagerError::ConnectionError(_) | ManagerError::QueryError(_)) => {
            RepoError::Unavailable(e.into())
        }
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => RepoError::Other(e.into()),
    }
}
