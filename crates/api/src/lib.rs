//! The HTTP face of user-management: configuration, the actix-web application, and the
//! mapping of requests onto the domain's use cases.

pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod dto;
pub mod error;
pub mod extract;
pub mod healthcheck;
pub mod html;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod schema;
pub mod server;
pub mod startup;
pub mod state;
pub mod telemetry;
mod workers;
