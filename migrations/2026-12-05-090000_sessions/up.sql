-- Sessions: one per password login, ended by a logout, by its owner, by staff, or by a password
-- change, reset or lock; removed with the account and, once ended or expired, by the sweep.
-- Refresh tokens are stored only as SHA-256 digests: `refresh_hash` is the current one and
-- `earlier_hashes` the newest of those it replaced (newest first), to recognise a token used
-- twice. A refresh replaces `refresh_hash` with one conditional UPDATE, so of two racing
-- refreshes with one token only one finds it current.
CREATE TABLE sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    user_agent     text,
    ip             text,
    ended_at       timestamptz,
    refresh_hash   bytea       NOT NULL CONSTRAINT sessions_refresh_hash_check
        CHECK (octet_length(refresh_hash) = 32),
    earlier_hashes bytea[]     NOT NULL DEFAULT '{}'
);

-- The ids of the account's live sessions, oldest first, kept in step with `sessions` in the
-- transaction of every change (the account's row first, then the sessions: one lock order): a
-- request checks its session in the row it loads anyway, with no second lookup. An expired
-- session stays here until the sweep; its access tokens expire with it.
ALTER TABLE users ADD COLUMN live_session_ids uuid[] NOT NULL DEFAULT '{}';

-- A user's live sessions, newest first (the list, and the ending of all of them).
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at DESC)
    WHERE ended_at IS NULL;
-- The sweep.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_ended_at_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;

ALTER TABLE audit_events DROP CONSTRAINT audit_events_kind_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_kind_check CHECK (kind IN (
    'role_changed', 'locked', 'unlocked', 'pro_status_changed',
    'user_deleted', 'user_updated', 'picture_changed', 'picture_deleted', 'sessions_revoked'));
