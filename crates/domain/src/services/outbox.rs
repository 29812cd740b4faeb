//! Delivering the outbox: claim due messages, hand them to the transport, retry failures
//! with exponential backoff, give up after a limit (keeping the last error).

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{
    error::Error,
    ports::{Clock, Mailer, Outbox, OutboxDepth},
};

/// How the outbox is worked off.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Messages claimed per round.
    pub batch: u32,
    /// How long a claim keeps others off a message; a claimer that dies frees it after this.
    pub lease: TimeDelta,
    /// Attempts before a message is given up on.
    pub max_attempts: u32,
    /// Delay after the first failure; it doubles with each further failure…
    pub base_delay: TimeDelta,
    /// …up to this.
    pub max_delay: TimeDelta,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            batch: 20,
            lease: TimeDelta::minutes(5),
            max_attempts: 12,
            base_delay: TimeDelta::seconds(5),
            max_delay: TimeDelta::hours(1),
        }
    }
}

impl DeliveryPolicy {
    /// The wait before the next try after `attempts` failed ones:
    /// `base × 2^(attempts − 1)`, at most `max_delay`.
    #[must_use]
    pub fn retry_delay(&self, attempts: u32) -> TimeDelta {
        let exponent = attempts.saturating_sub(1).min(30);
        self.base_delay
            .checked_mul(1_i32 << exponent)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub given_up: usize,
}

/// Works off the outbox through a mail transport.
#[derive(Clone)]
pub struct OutboxDelivery {
    outbox: Arc<dyn Outbox>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
}

impl OutboxDelivery {
    #[must_use]
    pub fn new(
        outbox: Arc<dyn Outbox>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
    ) -> Self {
        Self {
            outbox,
            mailer,
            clock,
            policy,
        }
    }

    /// Claims one batch of due messages and tries each once.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached (the worker tries again later).
    pub async fn run_once(&self) -> Result<DeliveryReport, Error> {
        let messages = self
            .outbox
            .claim(self.policy.batch, self.policy.lease, self.clock.now())
            .await?;
        let mut report = DeliveryReport {
            claimed: messages.len(),
            ..DeliveryReport::default()
        };
        for message in messages {
            match self.mailer.send(message.mail).await {
                Ok(()) => {
                    self.outbox.mark_sent(message.id, self.clock.now()).await?;
                    report.sent += 1;
                }
                Err(e) => {
                    let error = format!("{e:#}");
                    if message.attempts >= self.policy.max_attempts {
                        tracing::error!(id = message.id, attempts = message.attempts, %error, "giving up on an email");
                        self.outbox.mark_failed(message.id, error, None).await?;
                        report.given_up += 1;
                    } else {
                        let retry_at = self.clock.now() + self.policy.retry_delay(message.attempts);
                        tracing::warn!(id = message.id, attempts = message.attempts, %error, %retry_at, "email delivery failed; will retry");
                        self.outbox
                            .mark_failed(message.id, error, Some(retry_at))
                            .await?;
                        report.retried += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// How many emails wait, and how many were given up on.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached.
    pub async fn depth(&self) -> Result<OutboxDepth, Error> {
        Ok(self.outbox.depth().await?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{
        model::Email,
        ports::{Mail, MailKind, MockClock, MockMailer, MockOutbox, OutboxMessage, RepoError},
    };

    fn policy() -> DeliveryPolicy {
        DeliveryPolicy {
            batch: 10,
            lease: TimeDelta::minutes(5),
            max_attempts: 4,
            base_delay: TimeDelta::seconds(2),
            max_delay: TimeDelta::seconds(60),
        }
    }

    fn message(id: i64, attempts: u32) -> OutboxMessage {
        OutboxMessage {
            id,
            attempts,
            mail: Mail {
                to: Email::parse("a@example.com").expect("valid"),
                greeting_name: "a".into(),
                kind: MailKind::ProStatusChanged {
                    is_professional: true,
                },
            },
        }
    }

    fn delivery(outbox: MockOutbox, mailer: MockMailer) -> OutboxDelivery {
        let mut clock = MockClock::new();
        let now = Utc
            .with_ymd_and_hms(2026, 11, 28, 9, 0, 0)
            .single()
            .expect("a time");
        clock.expect_now().return_const(now);
        OutboxDelivery::new(
            Arc::new(outbox),
            Arc::new(mailer),
            Arc::new(clock),
            policy(),
        )
    }

    #[test]
    fn the_delay_doubles_from_the_base_up_to_the_cap() {
        let p = policy();
        let delays: Vec<i64> = (1..=7).map(|a| p.retry_delay(a).num_seconds()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(p.retry_delay(1000).num_seconds(), 60);
    }

    #[tokio::test]
    async fn sent_messages_are_marked_sent_and_failures_are_retried_later_or_given_up() {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_claim()
            .withf(|limit, lease, _| *limit == 10 && *lease == TimeDelta::minutes(5))
            .returning(|_, _, _| Ok(vec![message(1, 1), message(2, 2), message(3, 4)]));
        outbox
            .expect_mark_sent()
            .withf(|id, _| *id == 1)
            .times(1)
            .returning(|_, _| Ok(()));
        let now = Utc
            .with_ymd_and_hms(2026, 11, 28, 9, 0, 0)
            .single()
            .expect("a time");
        outbox
            .expect_mark_failed()
            .withf(move |id, error, retry| {
                *id == 2
                    && error.contains("connection refused")
                    && *retry == Some(now + TimeDelta::seconds(4))
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        outbox
            .expect_mark_failed()
            .withf(|id, _, retry| *id == 3 && retry.is_none())
            .times(1)
            .returning(|_, _, _| Ok(()));
        let mut mailer = MockMailer::new();
        let mut calls = 0;
        mailer.expect_send().times(3).returning(move |_| {
            calls += 1;
            if calls == 1 {
                Ok(())
            } else {
                Err(anyhow::anyhow!("connection refused"))
            }
        });

        let report = delivery(outbox, mailer).run_once().await.expect("a round");

        assert_eq!(
            report,
            DeliveryReport {
                claimed: 3,
                sent: 1,
                retried: 1,
                given_up: 1
            }
        );
    }

    #[tokio::test]
    async fn an_unreachable_database_is_reported_and_nothing_is_sent() {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_claim()
            .returning(|_, _, _| Err(RepoError::Unavailable(anyhow::anyhow!("down"))));
        let mut mailer = MockMailer::new();
        mailer.expect_send().never();

        let result = delivery(outbox, mailer).run_once().await;

        assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
    }
}
