//! Delivering the outbox: claim due messages, hand them to the transport, retry failures
//! with exponential backoff, give up after a limit (keeping the last error).

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

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

/// The outcome of a try that the database has not recorded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Sent(DateTime<Utc>),
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// What a round cut short by the database left to record: outcomes of messages it tried, and
/// the claims of messages it never reached. The next round records them first.
#[derive(Debug, Default)]
struct Unfinished {
    outcomes: Vec<(i64, Outcome)>,
    untried: Vec<i64>,
}

/// Works off the outbox through a mail transport.
///
/// A round that the database cuts short (an outcome cannot be recorded) keeps what it could not
/// record: the next round, once the database answers, records the outcomes of the messages it
/// tried (a message sent is not sent again) and gives back the claims of those it never reached
/// (they are due again at once, not when their lease runs out).
#[derive(Clone)]
pub struct OutboxDelivery {
    outbox: Arc<dyn Outbox>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    unfinished: Arc<Mutex<Unfinished>>,
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
            unfinished: Arc::new(Mutex::new(Unfinished::default())),
        }
    }

    /// Records what an interrupted round left, then claims one batch of due messages and tries
    /// each once.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached (the worker tries again later; what
    /// this round tried or claimed is recorded or given back by the next one).
    pub async fn run_once(&self) -> Result<DeliveryReport, Error> {
        self.finish_interrupted().await?;
        let messages = self
            .outbox
            .claim(self.policy.batch, self.policy.lease, self.clock.now())
            .await?;
        let mut report = DeliveryReport {
            claimed: messages.len(),
            ..DeliveryReport::default()
        };
        let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
        for (index, message) in messages.into_iter().enumerate() {
            let outcome = match self.mailer.send(message.mail).await {
                Ok(()) => {
                    report.sent += 1;
                    Outcome::Sent(self.clock.now())
                }
                Err(e) => {
                    let error = format!("{e:#}");
                    if message.attempts >= self.policy.max_attempts {
                        tracing::error!(id = message.id, attempts = message.attempts, %error, "giving up on an email");
                        report.given_up += 1;
                        Outcome::Failed {
                            error,
                            retry_at: None,
                        }
                    } else {
                        let retry_at = self.clock.now() + self.policy.retry_delay(message.attempts);
                        tracing::warn!(id = message.id, attempts = message.attempts, %error, %retry_at, "email delivery failed; will retry");
                        report.retried += 1;
                        Outcome::Failed {
                            error,
                            retry_at: Some(retry_at),
                        }
                    }
                }
            };
            if let Err(e) = self.record(message.id, outcome.clone()).await {
                let untried = ids.get(index + 1..).unwrap_or_default().to_vec();
                tracing::warn!(
                    id = message.id,
                    untried = untried.len(),
                    "the outbox round was cut short by the database; the next one records its outcome and gives back its claims"
                );
                let mut unfinished = self.lock_unfinished();
                unfinished.outcomes.push((message.id, outcome));
                unfinished.untried.extend(untried);
                return Err(e.into());
            }
        }
        Ok(report)
    }

    async fn record(&self, id: i64, outcome: Outcome) -> Result<(), crate::ports::RepoError> {
        match outcome {
            Outcome::Sent(at) => self.outbox.mark_sent(id, at).await,
            Outcome::Failed { error, retry_at } => {
                self.outbox.mark_failed(id, error, retry_at).await
            }
        }
    }

    fn lock_unfinished(&self) -> std::sync::MutexGuard<'_, Unfinished> {
        self.unfinished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the outcomes and gives back the claims an interrupted round left; stops at the
    /// first that the database still refuses, keeping the rest for the next try.
    async fn finish_interrupted(&self) -> Result<(), Error> {
        let (outcomes, untried) = {
            let mut unfinished = self.lock_unfinished();
            (
                std::mem::take(&mut unfinished.outcomes),
                std::mem::take(&mut unfinished.untried),
            )
        };
        let mut outcomes = outcomes.into_iter();
        while let Some((id, outcome)) = outcomes.next() {
            if let Err(e) = self.record(id, outcome.clone()).await {
                let mut unfinished = self.lock_unfinished();
                unfinished.outcomes.push((id, outcome));
                unfinished.outcomes.extend(outcomes);
                unfinished.untried.extend(untried);
                return Err(e.into());
            }
        }
        if !untried.is_empty() {
            if let Err(e) = self.outbox.release(&untried).await {
                self.lock_unfinished().untried.extend(untried);
                return Err(e.into());
            }
            tracing::info!(
                released = untried.len(),
                "gave back the claims of an interrupted outbox round"
            );
        }
        Ok(())
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

    #[tokio::test]
    async fn a_round_cut_short_records_its_outcome_and_gives_back_its_claims_once_the_database_answers()
     {
        let mut seq = mockall::Sequence::new();
        let mut outbox = MockOutbox::new();
        // Round 1: three claimed; the first is recorded, the second's outcome cannot be.
        outbox
            .expect_claim()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(vec![message(1, 1), message(2, 1), message(3, 1)]));
        outbox
            .expect_mark_sent()
            .withf(|id, _| *id == 1)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        outbox
            .expect_mark_sent()
            .withf(|id, _| *id == 2)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Err(RepoError::Unavailable(anyhow::anyhow!("cut off"))));
        // Round 2, the database still away: nothing is claimed, nothing sent.
        outbox
            .expect_mark_sent()
            .withf(|id, _| *id == 2)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Err(RepoError::Unavailable(anyhow::anyhow!("still cut off"))));
        // Round 3, the database back: message 2 is recorded as sent (not sent again), message
        // 3 is given back before anything new is claimed.
        outbox
            .expect_mark_sent()
            .withf(|id, _| *id == 2)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        outbox
            .expect_release()
            .withf(|ids| ids == [3])
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        outbox
            .expect_claim()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(vec![message(3, 1)]));
        outbox
            .expect_mark_sent()
            .withf(|id, _| *id == 3)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        let mut mailer = MockMailer::new();
        // Messages 1 and 2 in round 1, message 3 in round 3: three sends, none twice.
        mailer.expect_send().times(3).returning(|_| Ok(()));
        let delivery = delivery(outbox, mailer);

        let first = delivery.run_once().await;
        assert!(matches!(first, Err(Error::Unavailable(_))), "{first:?}");
        let second = delivery.run_once().await;
        assert!(matches!(second, Err(Error::Unavailable(_))), "{second:?}");
        let third = delivery.run_once().await.expect("the database is back");

        assert_eq!(
            third,
            DeliveryReport {
                claimed: 1,
                sent: 1,
                retried: 0,
                given_up: 0
            }
        );
    }
}
