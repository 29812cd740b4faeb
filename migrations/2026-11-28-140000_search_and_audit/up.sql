-- Searching and sorting the user listing, and the audit log.
--
-- Every index here was measured on 100,000 users: docs/search-query-plans.md, produced by
-- `cargo run -p um-postgres --example query_plans --features test-support`.

-- `q` is a case-insensitive substring of the email, nickname, first or last name, asked as
-- `lower(col) LIKE lower('%…%')` on each of the four columns. A B-tree cannot serve a pattern with
-- a leading wildcard; a trigram GIN index can (a search for a rare term: ~100 ms of sequential
-- scan before, 0.1 ms after). One index per column, on the same lower(col) expression the query
-- uses, rather than one over their concatenation: the planner combines the four with a BitmapOr
-- and is as fast, and a concatenation would also match text that spans two fields. lower(col)
-- LIKE rather than ILIKE: a pattern of one or two characters has no trigram and falls back to a
-- sequential scan, where lower() + LIKE is about 2.5 times faster than ILIKE in a UTF-8 database.
-- pg_trgm is a trusted extension: the database owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX users_email_trgm_idx ON users USING gin (lower(email) gin_trgm_ops);
CREATE INDEX users_nickname_trgm_idx ON users USING gin (lower(nickname) gin_trgm_ops);
CREATE INDEX users_first_name_trgm_idx ON users USING gin (lower(first_name) gin_trgm_ops);
CREATE INDEX users_last_name_trgm_idx ON users USING gin (lower(last_name) gin_trgm_ops);

-- Sorting by email or nickname is `ORDER BY lower(col), id`: the unique indexes on lower(email)
-- and lower(nickname) give the first key in order (forwards or backwards), and lower(col) being
-- unique, the incremental sort on id only ever sorts groups of one row. A page of 10 takes
-- 0.1 ms; an index on (lower(col), id) would only help deep offsets. No new index.
-- Newest/oldest first uses users_created_at_id_idx, which also serves the created_at range.

-- Locked accounts are few, and staff look for exactly them: a small partial index in listing
-- order answers both the page and the count without walking the whole table (the count of
-- 0.5 % locked: 17 ms of sequential scan before, 0.1 ms after). The repository filters on the
-- bare column (`WHERE is_locked`) so that the index's predicate is proven. The other booleans
-- match 10 % or more of the accounts: their counts scan the table (~15 ms), which an index would
-- not improve by much.
CREATE INDEX users_locked_created_at_id_idx ON users (created_at DESC, id DESC) WHERE is_locked;

-- The audit log: who did what to whom, and when. `actor_id` is NULL for the system itself (the
-- login lockout, the command line). Neither id references `users`: the history outlives the
-- accounts it is about. `details` is an object `{field: {"before": text|null, "after": text|null}}`
-- of the values that changed, never a secret.
CREATE TABLE audit_events (
    id             bigserial   PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_id       uuid,
    target_user_id uuid        NOT NULL,
    kind           text        NOT NULL
        CONSTRAINT audit_events_kind_check CHECK (kind IN (
            'role_changed', 'locked', 'unlocked', 'pro_status_changed',
            'user_deleted', 'user_updated', 'picture_changed', 'picture_deleted')),
    details        jsonb       NOT NULL
        CONSTRAINT audit_events_details_check CHECK (jsonb_typeof(details) = 'object')
);

-- Listed newest first (id breaks ties: one transaction's events share `at`), overall, by target,
-- by actor (`user_id` matches either: a BitmapOr of the two) and by kind.
CREATE INDEX audit_events_at_id_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_target_at_id_idx ON audit_events (target_user_id, at DESC, id DESC);
CREATE INDEX audit_events_actor_at_id_idx ON audit_events (actor_id, at DESC, id DESC)
    WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_kind_at_id_idx ON audit_events (kind, at DESC, id DESC);

-- Append-only. REVOKE cannot take UPDATE and DELETE from the table's owner, which is the role the
-- service (and its migrations) run as, so a trigger refuses them, and TRUNCATE, for everyone.
-- This guards against mistakes, not against the owner: it can still drop or disable the trigger,
-- or drop the table (as the down migration does).
CREATE FUNCTION audit_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
