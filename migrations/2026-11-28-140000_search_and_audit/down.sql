-- Dropping the table drops its triggers; the append-only rule does not stand in the way.
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();

DROP INDEX users_locked_created_at_id_idx;
DROP INDEX users_last_name_trgm_idx;
DROP INDEX users_first_name_trgm_idx;
DROP INDEX users_nickname_trgm_idx;
DROP INDEX users_email_trgm_idx;
-- The pg_trgm extension stays: it may have been there before, and other objects may use it.
