-- Emails waiting for delivery. A row is written in the same transaction as the change that causes
-- the email, and a background worker delivers it with retries: an SMTP outage delays mail, never
-- loses it.
--
-- `payload` is the serialized email, one-time tokens included (the link must be in the message),
-- so it is erased as soon as the email is sent; a given-up message keeps it for an operator.
-- `recipient` and `kind` stay for operators. `locked_until` is the lease of the worker that
-- claimed the row: until it runs out, no other worker claims the row.
CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    recipient       text        NOT NULL,
    kind            text        NOT NULL,
    payload         jsonb,
    attempts        integer     NOT NULL DEFAULT 0
        CONSTRAINT outbox_attempts_check CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    given_up_at     timestamptz,
    -- A sent email never keeps its body (and the tokens in it).
    CONSTRAINT outbox_sent_payload_erased CHECK (sent_at IS NULL OR payload IS NULL)
);

-- The work still to do, in the order the worker claims it.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id)
    WHERE sent_at IS NULL AND given_up_at IS NULL;
-- Given-up messages are few; counting them must not scan every email ever sent.
CREATE INDEX outbox_given_up_idx ON outbox (given_up_at)
    WHERE given_up_at IS NOT NULL;

-- Pending password-reset tokens: several per account may be valid at once, until a reset
-- succeeds. Only the SHA-256 of each token is stored, never the token itself.
CREATE TABLE password_reset_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX password_reset_tokens_user_id_idx ON password_reset_tokens (user_id);

-- The unlock token of a locked account: at most one, for the current lock. Only its SHA-256 is
-- stored; it is looked up by that hash.
CREATE TABLE unlock_tokens (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX unlock_tokens_token_hash_key ON unlock_tokens (token_hash);
