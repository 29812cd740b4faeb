-- The audit log is append-only: `sessions_revoked` events stay, unchecked by the narrower rule.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_kind_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_kind_check CHECK (kind IN (
    'role_changed', 'locked', 'unlocked', 'pro_status_changed',
    'user_deleted', 'user_updated', 'picture_changed', 'picture_deleted')) NOT VALID;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN live_session_ids;
