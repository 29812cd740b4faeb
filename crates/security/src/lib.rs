//! Security adapters: password hashing ([`Argon2Hasher`], the domain's
//! [`PasswordHasher`](um_domain::ports::PasswordHasher)) and access tokens ([`JwtIssuer`], the
//! domain's [`TokenIssuer`](um_domain::ports::TokenIssuer)), and the process that does the
//! hashing for the service ([`worker`]).

mod jwt;
mod password;
pub mod worker;

pub use jwt::{JwtIssuer, generate_secret};
pub use password::{Argon2Hasher, PRODUCTION_M_KIB, PRODUCTION_P, PRODUCTION_T};
