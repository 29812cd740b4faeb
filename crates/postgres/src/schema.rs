//! The database schema as diesel sees it, written by hand to match `migrations/`.

diesel::table! {
    users (id) {
        id -> Uuid,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 30]
        nickname -> Varchar,
        #[max_length = 100]
        first_name -> Nullable<Varchar>,
        #[max_length = 100]
        last_name -> Nullable<Varchar>,
        #[max_length = 500]
        bio -> Nullable<Varchar>,
        profile_picture_key -> Nullable<Text>,
        profile_picture_thumbnail_key -> Nullable<Text>,
        #[max_length = 255]
        linkedin_profile_url -> Nullable<Varchar>,
        #[max_length = 255]
        github_profile_url -> Nullable<Varchar>,
        role -> Text,
        is_professional -> Bool,
        professional_status_updated_at -> Nullable<Timestamptz>,
        email_verified -> Bool,
        is_locked -> Bool,
        failed_login_attempts -> Int4,
        hashed_password -> Text,
        last_login_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        /// The ids of the live sessions, oldest first (see the `sessions` migration).
        live_session_ids -> Array<Uuid>,
    }
}

diesel::table! {
    email_verification_tokens (user_id) {
        user_id -> Uuid,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    password_reset_tokens (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    unlock_tokens (user_id) {
        user_id -> Uuid,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    /// Emails waiting for delivery; `payload` is erased once sent.
    outbox (id) {
        id -> Int8,
        recipient -> Text,
        kind -> Text,
        payload -> Nullable<Jsonb>,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        given_up_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// The append-only audit log (a trigger refuses UPDATE, DELETE and TRUNCATE). Neither id
    /// references `users`; `details` is `{field: {"before": .., "after": ..}}`.
    audit_events (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        target_user_id -> Uuid,
        kind -> Text,
        details -> Jsonb,
    }
}

diesel::table! {
    /// One per password login; refresh tokens only as SHA-256 digests.
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        ended_at -> Nullable<Timestamptz>,
        refresh_hash -> Bytea,
        earlier_hashes -> Array<Bytea>,
    }
}

diesel::joinable!(email_verification_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(password_reset_tokens -> users (user_id));
diesel::joinable!(unlock_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    email_verification_tokens,
    password_reset_tokens,
    unlock_tokens,
    outbox,
    audit_events,
    sessions,
);

/// The part of PostgreSQL's catalog the start-up and test helpers read.
pub(crate) mod catalog {
    diesel::table! {
        pg_database (oid) {
            oid -> Oid,
            datname -> Text,
        }
    }
}
