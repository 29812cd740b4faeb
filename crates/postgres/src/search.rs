//! The user listing's queries: which users match a [`UserFilter`], in which [`UserSort`] order.
//!
//! Each condition is written the way the indexes of `migrations/…_search_and_audit` serve it
//! (see `docs/search-query-plans.md`): `q` as `lower(col) LIKE lower('%…%')` on the four trigram
//! GIN indexes, `is_locked` as the bare column (or its negation) so that the partial index on
//! locked accounts applies, the email and nickname orders on `lower(col)`, as their unique
//! indexes are.
//!
//! Two things are about how the listing runs rather than what it asks (see the generic-plan
//! section of `docs/search-query-plans.md`): a listing whose conditions carry values is planned
//! with those values every time ([`CUSTOM_PLANS`]), not with the generic plan PostgreSQL may
//! cache for a prepared statement after five executions; and the page fetches one row more than
//! it shows, so that a page that ends the matches gives the total without a count
//! ([`total_from_page`]).

use diesel::{
    BoolExpressionMethods as _, EscapeExpressionMethods as _, ExpressionMethods as _,
    QueryDsl as _, SelectableHelper as _, TextExpressionMethods as _,
    dsl::{AsSelect, SqlTypeOf, count_star, not},
    pg::Pg,
    query_builder::{BoxedSelectStatement, FromClause},
    sql_types::{BigInt, Nullable, Text},
};
use um_domain::ports::{UserFilter, UserQuery, UserSort};

use crate::{
    rows::UserRow,
    schema::users::{self, dsl as u},
};

diesel::define_sql_function! {
    /// PostgreSQL's `lower(text)`: lookups by `lower(col) = lower($1)` use the functional
    /// unique indexes, substring searches by `lower(col) LIKE lower($1)` the trigram indexes.
    fn lower(x: Text) -> Text;
}

diesel::define_sql_function! {
    /// `lower(text)` of a nullable column.
    #[sql_name = "lower"]
    fn lower_nullable(x: Nullable<Text>) -> Nullable<Text>;
}

/// The escape character of the `LIKE` patterns built here.
const LIKE_ESCAPE: char = '\\';

/// A `LIKE` pattern matching any text that contains `needle`, the needle's own `%`, `_` and `\`
/// taken literally.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The users `filter` matches, in no order yet.
fn matching(filter: &UserFilter) -> users::BoxedQuery<'static, Pg> {
    let mut query = users::table.into_boxed();
    if let Some(q) = &filter.q {
        let pattern = contains_pattern(q);
        // `lower(column) LIKE lower(pattern) ESCAPE '\'`
        macro_rules! contains {
            ($lower:ident($column:expr)) => {
                $lower($column)
                    .like($lower(pattern.clone()))
                    .escape(LIKE_ESCAPE)
            };
        }
        query = query.filter(
            contains!(lower(u::email))
                .or(contains!(lower(u::nickname)))
                .or(contains!(lower_nullable(u::first_name)))
                .or(contains!(lower_nullable(u::last_name))),
        );
    }
    if let Some(roles) = &filter.roles {
        let roles: Vec<&'static str> = roles.iter().map(|r| r.as_str()).collect();
        query = query.filter(u::role.eq_any(roles));
    }
    if let Some(locked) = filter.is_locked {
        query = if locked {
            query.filter(u::is_locked)
        } else {
            query.filter(not(u::is_locked))
        };
    }
    if let Some(professional) = filter.is_professional {
        query = query.filter(u::is_professional.eq(professional));
    }
    if let Some(verified) = filter.email_verified {
        query = query.filter(u::email_verified.eq(verified));
    }
    if let Some(from) = filter.created_from {
        query = query.filter(u::created_at.ge(from));
    }
    if let Some(to) = filter.created_to {
        query = query.filter(u::created_at.le(to));
    }
    query
}

/// Makes PostgreSQL plan the statements of the current transaction with their bound values
/// (`SET LOCAL`: it ends with the transaction).
///
/// diesel-async prepares each statement once per connection and reuses it. From the sixth
/// execution on, PostgreSQL may switch a prepared statement to a generic plan, built without the
/// values, when its estimated cost is below the average of the custom plans so far. For the
/// listing, the right plan depends on the values: after five searches for frequent terms on one
/// connection, the count switched to a generic trigram BitmapOr, and `q = "ad"` (no trigram) then
/// took 239 ms instead of the 65 ms of a sequential scan (100,000 users).
pub(crate) const CUSTOM_PLANS: &str = "SET LOCAL plan_cache_mode = force_custom_plan";

/// Whether the plan of a listing under `filter` depends on bound values, so that it needs
/// [`CUSTOM_PLANS`]: every condition but `is_locked`, which is sent as the bare column.
pub(crate) fn plans_depend_on_values(filter: &UserFilter) -> bool {
    let UserFilter {
        q,
        roles,
        is_locked: _,
        is_professional,
        email_verified,
        created_from,
        created_to,
    } = filter;
    q.is_some()
        || roles.is_some()
        || is_professional.is_some()
        || email_verified.is_some()
        || created_from.is_some()
        || created_to.is_some()
}

/// One page of the users `query` matches, in its order, `id` breaking ties in the same
/// direction, followed by the next match if there is one: `query.limit + 1` rows at most (see
/// [`total_from_page`]).
pub(crate) fn page(
    query: &UserQuery,
) -> BoxedSelectStatement<'static, SqlTypeOf<AsSelect<UserRow, Pg>>, FromClause<users::table>, Pg> {
    let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
    let offset = i64::try_from(query.skip).unwrap_or(i64::MAX);
    let rows = matching(&query.filter).select(UserRow::as_select());
    let ordered = match query.sort {
        UserSort::CreatedAtDesc => rows.order_by((u::created_at.desc(), u::id.desc())),
        UserSort::CreatedAtAsc => rows.order_by((u::created_at.asc(), u::id.asc())),
        UserSort::EmailAsc => rows.order_by((lower(u::email).asc(), u::id.asc())),
        UserSort::EmailDesc => rows.order_by((lower(u::email).desc(), u::id.desc())),
        UserSort::NicknameAsc => rows.order_by((lower(u::nickname).asc(), u::id.asc())),
        UserSort::NicknameDesc => rows.order_by((lower(u::nickname).desc(), u::id.desc())),
    };
    ordered.limit(limit).offset(offset)
}

/// The total of a listing, when the rows that [`page`] fetched (`fetched` of them from offset
/// `skip`, at most `limit + 1`) tell it: when no match follows the page, and the page is not past
/// the end (an empty page at a positive offset says nothing about the matches before it). `None`
/// means the matches must be counted.
///
/// The page and the count run in the same snapshot, so this is the count the query would give.
pub(crate) fn total_from_page(skip: u64, limit: u64, fetched: usize) -> Option<u64> {
    let fetched = u64::try_from(fetched).ok()?;
    if fetched > limit || (fetched == 0 && skip > 0) {
        None
    } else {
        skip.checked_add(fetched)
    }
}

/// Counts every user `filter` matches.
pub(crate) fn count(
    filter: &UserFilter,
) -> BoxedSelectStatement<'static, BigInt, FromClause<users::table>, Pg> {
    matching(filter).select(count_star())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(contains_pattern("ada"), "%ada%");
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("a_b"), "%a\\_b%");
        assert_eq!(contains_pattern("back\\slash"), "%back\\\\slash%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn the_page_gives_the_total_only_when_no_match_follows_it() {
        // No row beyond the page: these are the last matches.
        assert_eq!(total_from_page(0, 10, 0), Some(0));
        assert_eq!(total_from_page(0, 10, 3), Some(3));
        assert_eq!(
            total_from_page(0, 10, 10),
            Some(10),
            "exactly a page of matches"
        );
        assert_eq!(total_from_page(20, 10, 4), Some(24), "the last page");
        assert_eq!(total_from_page(20, 10, 10), Some(30));
        // The extra row: more matches follow.
        assert_eq!(total_from_page(0, 10, 11), None);
        assert_eq!(total_from_page(20, 10, 11), None);
        // Past the end: how many matches lie before the offset is unknown.
        assert_eq!(total_from_page(20, 10, 0), None);
        assert_eq!(total_from_page(u64::MAX, 10, 1), None, "no overflow");
    }

    #[test]
    fn only_conditions_with_values_ask_for_custom_plans() {
        assert!(!plans_depend_on_values(&UserFilter::default()));
        assert!(!plans_depend_on_values(&UserFilter {
            is_locked: Some(true),
            ..UserFilter::default()
        }));
        assert!(plans_depend_on_values(&UserFilter {
            q: Some("ada".to_owned()),
            ..UserFilter::default()
        }));
        assert!(plans_depend_on_values(&UserFilter {
            email_verified: Some(false),
            ..UserFilter::default()
        }));
    }
}
