//! The audit log: events appended by the repository's transactions ([`append`]) and read
//! through [`PgAuditLog`], the [`AuditLog`] port over PostgreSQL.
//!
//! `details` is stored as a JSON object `{field: {"before": text|null, "after": text|null}}`, the
//! shape the API renders. A JSON object has no order of its own (`jsonb` keeps its keys sorted
//! by length, then bytes), so the changes of a read event come back sorted by field name.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, QueryDsl as _, SelectableHelper as _,
    dsl::{AsSelect, SqlTypeOf, count_star},
    pg::Pg,
    prelude::{Insertable, Queryable, Selectable},
    query_builder::{BoxedSelectStatement, FromClause},
    sql_types::BigInt,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use serde_json::{Map, Value};
use um_domain::{
    model::{AuditChange, AuditEvent, AuditKind, UserId},
    ports::{AuditLog, AuditQuery, AuditRecord, Page, RepoError},
};
use uuid::Uuid;

use crate::{
    error::{TxError, from_diesel, from_pool},
    pool::Pool,
    schema::audit_events,
};

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditRow {
    actor_id: Option<Uuid>,
    target_user_id: Uuid,
    kind: &'static str,
    details: Value,
}

/// An `audit_events` row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(Pg))]
pub(crate) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    target_user_id: Uuid,
    kind: String,
    details: Value,
}

/// Appends `events` to the audit log on `conn`, in one statement: called inside the transaction
/// of the change they record, so that they are stored exactly when the change is. The events of
/// one call share `at` (the transaction's start) and get ascending ids in the order given.
pub(crate) async fn append(
    conn: &mut AsyncPgConnection,
    events: &[AuditEvent],
) -> Result<(), TxError> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events
        .iter()
        .map(|event| {
            Ok(NewAuditRow {
                actor_id: event.actor.map(|a| a.0),
                target_user_id: event.target.0,
                kind: event.kind.as_str(),
                details: encode_details(&event.changes)?,
            })
        })
        .collect::<Result<Vec<_>, RepoError>>()?;
    diesel::insert_into(audit_events::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// The `unlocked` event of an account that lifted its own lock (a password reset, the unlock
/// link).
pub(crate) fn unlocked_by_itself(id: Uuid) -> AuditEvent {
    AuditEvent {
        actor: Some(UserId(id)),
        target: UserId(id),
        kind: AuditKind::Unlocked,
        changes: vec![AuditChange::new(
            "is_locked",
            Some("true".to_owned()),
            Some("false".to_owned()),
        )],
    }
}

/// `{field: {"before": .., "after": ..}}`. A field named twice is a bug of the caller: it is
/// refused rather than half recorded.
fn encode_details(changes: &[AuditChange]) -> Result<Value, RepoError> {
    let mut details = Map::new();
    for change in changes {
        let values = serde_json::json!({ "before": change.before, "after": change.after });
        if details.insert(change.field.clone(), values).is_some() {
            return Err(RepoError::Other(anyhow::anyhow!(
                "an audit event names the field {:?} twice",
                change.field
            )));
        }
    }
    Ok(Value::Object(details))
}

/// The changes of a stored `details` object, sorted by field name.
fn decode_details(details: Value) -> Result<Vec<AuditChange>, String> {
    let Value::Object(details) = details else {
        return Err("details is not an object".to_owned());
    };
    let mut changes = details
        .into_iter()
        .map(|(field, values)| {
            let text = |key: &str| match values.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("{field}.{key} is neither text nor null")),
            };
            Ok(AuditChange {
                before: text("before")?,
                after: text("after")?,
                field,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    changes.sort_by(|a, b| a.field.cmp(&b.field));
    Ok(changes)
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = RepoError;

    /// A row that does not parse is an `Other` error naming the event, never its values.
    fn try_from(row: AuditRow) -> Result<Self, RepoError> {
        let id = row.id;
        let bad = |what: String| {
            RepoError::Other(anyhow::anyhow!(
                "stored audit event {id} is invalid: {what}"
            ))
        };
        Ok(AuditRecord {
            id: row.id,
            at: row.at,
            event: AuditEvent {
                actor: row.actor_id.map(UserId),
                target: UserId(row.target_user_id),
                kind: AuditKind::parse(&row.kind).map_err(|e| bad(e.to_string()))?,
                changes: decode_details(row.details).map_err(bad)?,
            },
        })
    }
}

/// The audit log in PostgreSQL.
#[derive(Clone)]
pub struct PgAuditLog {
    pool: Pool,
}

impl std::fmt::Debug for PgAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuditLog")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PgAuditLog {
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

/// The events `query` asks for, in no order yet.
fn matching(query: &AuditQuery) -> audit_events::BoxedQuery<'static, Pg> {
    let mut events = audit_events::table.into_boxed();
    if let Some(UserId(user)) = query.user_id {
        events = events.filter(
            audit_events::target_user_id
                .eq(user)
                .or(audit_events::actor_id.eq(user)),
        );
    }
    if let Some(kind) = query.kind {
        events = events.filter(audit_events::kind.eq(kind.as_str()));
    }
    events
}

/// One page of the events `query` asks for, newest first (`id` breaking ties: the events of one
/// transaction share `at`).
pub(crate) fn page(
    query: &AuditQuery,
) -> BoxedSelectStatement<
    'static,
    SqlTypeOf<AsSelect<AuditRow, Pg>>,
    FromClause<audit_events::table>,
    Pg,
> {
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(query.skip).unwrap_or(i64::MAX);
    matching(query)
        .select(AuditRow::as_select())
        .order_by((audit_events::at.desc(), audit_events::id.desc()))
        .limit(limit)
        .offset(offset)
}

/// Counts every event `query` asks for.
pub(crate) fn count(
    query: &AuditQuery,
) -> BoxedSelectStatement<'static, BigInt, FromClause<audit_events::table>, Pg> {
    matching(query).select(count_star())
}

#[async_trait]
impl AuditLog for PgAuditLog {
    async fn list(&self, query: AuditQuery) -> Result<Page<AuditRecord>, RepoError> {
        let mut conn = self.pool.get().await.map_err(from_pool)?;
        // One snapshot for the page and the count, so that they agree.
        let (rows, total) = conn
            .build_transaction()
            .read_only()
            .repeatable_read()
            .run::<_, diesel::result::Error, _>(async |conn| {
                let rows: Vec<AuditRow> = page(&query).load(conn).await?;
                let total: i64 = count(&query).get_result(conn).await?;
                Ok((rows, total))
            })
            .await
            .map_err(from_diesel)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(AuditRecord::try_from)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_round_trip_sorted_by_field() {
        let changes = vec![
            AuditChange::new("nickname", Some("ada".into()), Some("ada_l".into())),
            AuditChange::new("bio", None, Some("Poet.".into())),
            AuditChange::new("first_name", Some("Ada".into()), None),
        ];
        let details = encode_details(&changes).expect("encodes");
        assert_eq!(
            details,
            serde_json::json!({
                "nickname": {"before": "ada", "after": "ada_l"},
                "bio": {"before": null, "after": "Poet."},
                "first_name": {"before": "Ada", "after": null},
            })
        );
        let mut sorted = changes;
        sorted.sort_by(|a, b| a.field.cmp(&b.field));
        assert_eq!(decode_details(details), Ok(sorted));
    }

    #[test]
    fn a_field_named_twice_is_refused() {
        let twice = [
            AuditChange::new("role", None, Some("ADMIN".into())),
            AuditChange::new("role", None, Some("MANAGER".into())),
        ];
        assert!(encode_details(&twice).is_err());
    }

    #[test]
    fn malformed_details_are_errors() {
        assert!(decode_details(serde_json::json!([])).is_err());
        assert!(decode_details(serde_json::json!({"role": {"before": 1}})).is_err());
        assert_eq!(
            decode_details(serde_json::json!({"role": {}})),
            Ok(vec![AuditChange::new("role", None, None)]),
            "missing values read as null"
        );
    }
}
