//! The contract every `UserRepository` keeps (written once in `um_domain::test_support`),
//! against `PgUserRepository` on a fresh database per test.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::TimeDelta;
use diesel::{ExpressionMethods as _, QueryDsl as _, dsl::count_star};
use diesel_async::RunQueryDsl as _;
use um_domain::{
    model::UserId,
    ports::{AuditLog, Mail, Outbox as _, SessionRepository, UserRepository},
    test_support::{TokenCounts, contract::Harness},
};
use um_postgres::schema;

use common::{Fixture, fixture};
use um_domain::test_support::contract::now;

#[async_trait]
impl Harness for Fixture {
    fn repo(&self) -> Arc<dyn UserRepository> {
        Arc::new(self.repo.clone())
    }

    fn audit_log(&self) -> Arc<dyn AuditLog> {
        Arc::new(self.log.clone())
    }

    fn sessions(&self) -> Arc<dyn SessionRepository> {
        Arc::new(self.repo.clone())
    }

    async fn tokens(&self) -> TokenCounts {
        let mut conn = self.pool.get().await.expect("a connection");
        let verification: i64 = schema::email_verification_tokens::table
            .select(count_star())
            .get_result(&mut conn)
            .await
            .expect("counting verification tokens");
        let reset: i64 = schema::password_reset_tokens::table
            .select(count_star())
            .get_result(&mut conn)
            .await
            .expect("counting reset tokens");
        let unlock: i64 = schema::unlock_tokens::table
            .select(count_star())
            .get_result(&mut conn)
            .await
            .expect("counting unlock tokens");
        let count = |n: i64| usize::try_from(n).expect("a count");
        TokenCounts {
            verification: count(verification),
            reset: count(reset),
            unlock: count(unlock),
        }
    }

    /// Claims everything due, marks it sent and returns the mails in queue order.
    async fn take_mails(&self) -> Vec<Mail> {
        let messages = self
            .outbox
            .claim(1000, TimeDelta::minutes(5), now() + TimeDelta::seconds(1))
            .await
            .expect("claim");
        for message in &messages {
            self.outbox
                .mark_sent(message.id, now())
                .await
                .expect("mark_sent");
        }
        messages.into_iter().map(|m| m.mail).collect()
    }

    async fn lift_lock_keeping_tokens(&self, id: UserId) {
        let mut conn = self.pool.get().await.expect("a connection");
        diesel::update(schema::users::table.find(id.0))
            .set((
                schema::users::is_locked.eq(false),
                schema::users::failed_login_attempts.eq(0),
            ))
            .execute(&mut conn)
            .await
            .expect("unlocking by hand");
    }
}

um_domain::user_repository_contract!(fixture);
