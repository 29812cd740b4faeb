//! The core of user-management: the model, the ports it needs from the world, and the use cases.
//!
//! This crate knows nothing of HTTP, SQL, S3 or SMTP. Adapters implement the traits in [`ports`];
//! the API crate turns requests into calls on [`services::UserService`].

pub mod authz;
pub mod error;
pub mod model;
pub mod ports;
pub mod services;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod validation;

pub use error::Error;
