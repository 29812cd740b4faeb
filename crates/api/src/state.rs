//! What every handler can reach: the use cases and the settings of the HTTP face. No port of
//! the domain is reachable from here: handlers go through [`UserService`].

use std::{sync::Arc, time::Duration};

use um_domain::services::UserService;

use crate::dto::Urls;

/// What every handler can reach.
pub struct AppState {
    pub users: UserService,
    pub urls: Urls,
    pub max_picture_bytes: usize,
    /// One permit per upload in progress (`MAX_CONCURRENT_UPLOADS`), taken before the body
    /// is read.
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// How long an upload's body may take to arrive (`UPLOAD_BODY_TIMEOUT_SECONDS`).
    pub upload_body_timeout: Duration,
}
