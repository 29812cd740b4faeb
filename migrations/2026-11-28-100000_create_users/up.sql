-- Accounts. Emails and nicknames keep the casing they were given; uniqueness is decided on their
-- lower-cased form by the functional unique indexes below, whose names the repository translates
-- into EmailTaken / NicknameTaken.
CREATE TABLE users (
    id                             uuid         PRIMARY KEY,
    email                          varchar(255) NOT NULL,
    nickname                       varchar(30)  NOT NULL,
    first_name                     varchar(100),
    last_name                      varchar(100),
    bio                            varchar(500),
    profile_picture_key            text,
    profile_picture_thumbnail_key  text,
    linkedin_profile_url           varchar(255),
    github_profile_url             varchar(255),
    role                           text         NOT NULL
        CONSTRAINT users_role_check CHECK (role IN ('ANONYMOUS', 'AUTHENTICATED', 'MANAGER', 'ADMIN')),
    is_professional                boolean      NOT NULL DEFAULT false,
    professional_status_updated_at timestamptz,
    email_verified                 boolean      NOT NULL DEFAULT false,
    is_locked                      boolean      NOT NULL DEFAULT false,
    failed_login_attempts          integer      NOT NULL DEFAULT 0
        CONSTRAINT users_failed_login_attempts_check CHECK (failed_login_attempts >= 0),
    hashed_password                text         NOT NULL,
    last_login_at                  timestamptz,
    created_at                     timestamptz  NOT NULL,
    updated_at                     timestamptz  NOT NULL
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE UNIQUE INDEX users_nickname_lower_key ON users (lower(nickname));
-- Listings are newest first; id breaks ties so that paging is stable.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);
-- The LastAdmin rule locks every ADMIN row; keep finding them cheap.
CREATE INDEX users_role_idx ON users (role);

-- At most one pending email-verification token per account. Only the SHA-256 of the token is
-- stored, never the token itself.
CREATE TABLE email_verification_tokens (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);
