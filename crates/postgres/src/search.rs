//! The user listing's queries: which users match a [`UserFilter`], in which [`UserSort`] order.
//!
//! Each condition is written the way the indexes of `migrations/…_search_and_audit` serve it
//! (see `docs/search-query-plans.md`): `q` as `lower(col) LIKE lower('%…%')` on the four trigram
//! GIN indexes, `is_locked` as the bare column (or its negation) so that the partial index on
//! locked accounts applies, the email and nickname orders on `lower(col)`, as their unique
//! indexes are.

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

/// One page of the users `query` matches, in its order, `id` breaking ties in the same
/// direction.
pub(crate) fn page(
    query: &UserQuery,
) -> BoxedSelectStatement<'static, SqlTypeOf<AsSelect<UserRow, Pg>>, FromClause<users::table>, Pg> {
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
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
}
