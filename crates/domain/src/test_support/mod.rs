//! What tests of this crate and of the adapters share (the `test-support` feature): an
//! in-memory implementation of the repository ports, and the contract suite that holds every
//! implementation of [`UserRepository`](crate::ports::UserRepository) to the same rules.

pub mod contract;
mod memory;

pub use memory::{InMemoryRepository, TokenCounts};

#[cfg(test)]
mod tests {
    use super::InMemoryRepository;

    async fn in_memory() -> InMemoryRepository {
        InMemoryRepository::new()
    }

    crate::user_repository_contract!(in_memory);
}
