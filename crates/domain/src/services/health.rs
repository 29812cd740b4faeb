//! Whether the service can serve: what `/readyz` asks.

use super::UserService;
use crate::ports::{RepoError, StoreError};

/// The answer of each part the use cases depend on.
#[derive(Debug)]
pub struct Readiness {
    pub database: Result<(), RepoError>,
    pub object_store: Result<(), StoreError>,
}

impl UserService {
    /// Asks the database and the object store at once.
    pub async fn readiness(&self) -> Readiness {
        let (database, object_store) =
            futures_util::future::join(self.ports.users.ping(), self.ports.store.ping()).await;
        Readiness {
            database,
            object_store,
        }
    }
}
