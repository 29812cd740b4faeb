//! `EXPLAIN (ANALYZE, BUFFERS)` of the listings' queries exactly as the adapters send them (the
//! same SQL, the same bound values), for `examples/query_plans.rs`.

use diesel::{
    QueryResult,
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::Text,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use um_domain::ports::{AuditQuery, UserQuery};

use crate::{audit, search};

/// The plans PostgreSQL chose for one listing, as `EXPLAIN` prints them.
#[derive(Debug, Clone)]
pub struct ListingPlans {
    /// The page: the rows of this page, in order.
    pub page: String,
    /// The count of every match.
    pub count: String,
}

/// Runs the two queries of [`UserRepository::list`](um_domain::ports::UserRepository::list)
/// under `EXPLAIN (ANALYZE, BUFFERS)`: the page (which fetches one row more than `query.limit`)
/// and the count, which `list` leaves out when that extra row is missing.
///
/// `EXPLAIN` of a statement with bound values always plans it with those values, as `list` has
/// PostgreSQL do for a filtered listing (`plan_cache_mode = force_custom_plan`): these are the
/// plans the service runs, not a generic plan.
///
/// # Errors
/// When a query fails.
pub async fn explain_user_listing(
    conn: &mut AsyncPgConnection,
    query: &UserQuery,
) -> QueryResult<ListingPlans> {
    Ok(ListingPlans {
        page: explain(conn, search::page(query)).await?,
        count: explain(conn, search::count(&query.filter)).await?,
    })
}

/// Runs the two queries of [`AuditLog::list`](um_domain::ports::AuditLog::list) under
/// `EXPLAIN (ANALYZE, BUFFERS)`.
///
/// # Errors
/// When a query fails.
pub async fn explain_audit_listing(
    conn: &mut AsyncPgConnection,
    query: &AuditQuery,
) -> QueryResult<ListingPlans> {
    Ok(ListingPlans {
        page: explain(conn, audit::page(query)).await?,
        count: explain(conn, audit::count(query)).await?,
    })
}

async fn explain<Q>(conn: &mut AsyncPgConnection, query: Q) -> QueryResult<String>
where
    Q: QueryFragment<Pg> + QueryId + Send + 'static,
{
    let lines: Vec<String> = Explain(query).load(conn).await?;
    Ok(lines.join("\n"))
}

/// `EXPLAIN (ANALYZE, BUFFERS) <query>`, with the query's bound values.
#[derive(QueryId)]
struct Explain<Q>(Q);

impl<Q> Query for Explain<Q> {
    type SqlType = Text;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN (ANALYZE, BUFFERS) ");
        self.0.walk_ast(out.reborrow())
    }
}
