//! End-to-end tests: each test starts the built `user-management` binary on a free port against
//! its own fresh PostgreSQL database and a real SMTP server inside the harness, and talks HTTP
//! to it as a client would.

mod accounts;
mod admin;
mod cli;
mod deployment;
mod hashing;
mod helpers;
mod openapi;
mod operations;
mod pictures;
mod profiles;
mod recovery;
mod sessions;
mod users;
