//! HS256 JSON Web Tokens as access tokens.

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use um_domain::model::{SessionId, User, UserId};
use um_domain::ports::{AccessToken, TokenError, TokenHolder, TokenIssuer};
use uuid::Uuid;

/// Secrets shorter than this many bytes get a warning at start-up.
const MIN_SECRET_BYTES: usize = 32;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    /// The user's role when the token was issued (informative; the stored role decides).
    role: String,
    iat: i64,
    exp: i64,
    iss: String,
    /// A random id, so that no two tokens are alike.
    jti: String,
    /// The session the token belongs to: it works only while the session is alive.
    sid: String,
}

/// Issues and checks HS256 access tokens carrying `sub`, `role`, `iat`, `exp`, `iss`, `jti` and
/// `sid`.
///
/// Verification accepts HS256 only (so `alg: none` and every other algorithm are refused), requires
/// `exp`, `iss`, `sub` and `sid`, checks the issuer, and allows no leeway on `exp`. A token from
/// before sessions existed (no `sid`) is refused: its holder logs in again.
pub struct JwtIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl: TimeDelta,
    validation: Validation,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// `secret` signs and checks tokens (its UTF-8 bytes are the HMAC key; use at least 32 random
    /// bytes); `issuer` goes into `iss` and must match on verification; tokens live for `ttl`.
    #[must_use]
    pub fn new(secret: SecretString, issuer: String, ttl: TimeDelta) -> Self {
        // With exactly one backend feature enabled jsonwebtoken picks it itself; installing it
        // explicitly keeps tokens working should another crate ever enable the other backend.
        // It fails only when a provider is installed already, which is just as good.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
        let key = secret.expose_secret().as_bytes();
        if key.len() < MIN_SECRET_BYTES {
            tracing::warn!(
                min_bytes = MIN_SECRET_BYTES,
                "the JWT secret is short; use at least 256 random bits"
            );
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[&issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            issuer,
            ttl,
            validation,
        }
    }

    /// How long the tokens of this issuer live.
    #[must_use]
    pub fn ttl(&self) -> TimeDelta {
        self.ttl
    }
}

impl TokenIssuer for JwtIssuer {
    fn issue(
        &self,
        user: &User,
        session: SessionId,
        now: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> anyhow::Result<AccessToken> {
        let expires = now
            .checked_add_signed(self.ttl)
            .context("token expiry out of range")?
            .min(not_after);
        let claims = Claims {
            sub: user.id.to_string(),
            role: user.role.as_str().to_owned(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
            iss: self.issuer.clone(),
            jti: Uuid::new_v4().simple().to_string(),
            sid: session.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("cannot sign access token")?;
        Ok(AccessToken {
            token,
            expires_in: (expires - now).num_seconds().max(0),
        })
    }

    fn verify(&self, token: &str) -> Result<TokenHolder, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let user = Uuid::parse_str(&data.claims.sub).map_err(|_| TokenError::Invalid)?;
        let session = Uuid::parse_str(&data.claims.sid).map_err(|_| TokenError::Invalid)?;
        Ok(TokenHolder {
            user: UserId(user),
            session: SessionId(session),
        })
    }
}

/// A fresh random secret for signing tokens: 64 alphanumeric characters (about 380 bits) from
/// the operating system's random source, for development when `JWT_SECRET` is unset.
#[must_use]
pub fn generate_secret() -> SecretString {
    let secret: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(64)
        .map(char::from)
        .collect();
    SecretString::from(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use um_domain::model::{Email, Nickname, PasswordHash, Role};

    const ISSUER: &str = "user-management";

    fn issuer_with(secret: &str, iss: &str) -> JwtIssuer {
        JwtIssuer::new(
            SecretString::from(secret),
            iss.to_owned(),
            TimeDelta::minutes(30),
        )
    }

    fn issuer() -> JwtIssuer {
        issuer_with("0123456789abcdef0123456789abcdef", ISSUER)
    }

    fn user() -> User {
        let now = Utc::now();
        User {
            id: UserId::new(),
            email: Email::parse("ada@example.com").expect("email"),
            nickname: Nickname::parse("ada_lovelace").expect("nickname"),
            profile: um_domain::model::Profile::default(),
            picture: None,
            role: Role::Manager,
            is_professional: false,
            professional_status_updated_at: None,
            email_verified: true,
            is_locked: false,
            failed_login_attempts: 0,
            password_hash: PasswordHash::new("$argon2id$v=19$x".into()),
            last_login_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn payload(token: &str) -> serde_json::Value {
        let part = token.split('.').nth(1).expect("payload part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("json")
    }

    const SESSION: SessionId = SessionId(Uuid::from_u128(0x5e55_1011));

    /// A session end far beyond any token's own expiry.
    fn far() -> chrono::DateTime<Utc> {
        Utc::now() + TimeDelta::days(365)
    }

    #[test]
    fn a_token_never_outlives_its_session() {
        let issuer = issuer();
        let now = Utc::now();
        let token = issuer
            .issue(&user(), SESSION, now, now + TimeDelta::minutes(10))
            .expect("issue");
        assert_eq!(token.expires_in, 10 * 60);
        assert_eq!(payload(&token.token)["exp"], now.timestamp() + 10 * 60);
    }

    fn holder(user: &User) -> TokenHolder {
        TokenHolder {
            user: user.id,
            session: SESSION,
        }
    }

    fn b64(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
    }

    #[test]
    fn a_token_round_trips_to_its_user_id_and_carries_the_claims() {
        let issuer = issuer();
        let user = user();
        let now = Utc::now();
        let token = issuer.issue(&user, SESSION, now, far()).expect("issue");
        assert_eq!(token.expires_in, 30 * 60);
        assert_eq!(issuer.verify(&token.token), Ok(holder(&user)));

        let header = jsonwebtoken::decode_header(&token.token).expect("header");
        assert_eq!(header.alg, Algorithm::HS256);
        let claims = payload(&token.token);
        assert_eq!(claims["sub"], user.id.to_string());
        assert_eq!(claims["role"], "MANAGER");
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["iat"], now.timestamp());
        assert_eq!(claims["exp"], now.timestamp() + 30 * 60);
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
        assert_eq!(claims["sid"], SESSION.to_string());
    }

    #[test]
    fn two_tokens_issued_at_the_same_instant_differ() {
        let issuer = issuer();
        let user = user();
        let now = Utc::now();
        let a = issuer.issue(&user, SESSION, now, far()).expect("issue");
        let b = issuer.issue(&user, SESSION, now, far()).expect("issue");
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn an_expired_token_is_expired() {
        let issuer = issuer();
        let issued = Utc::now() - TimeDelta::minutes(31);
        let token = issuer
            .issue(&user(), SESSION, issued, far())
            .expect("issue");
        assert_eq!(issuer.verify(&token.token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_with_a_tampered_payload_or_signature_is_invalid() {
        let issuer = issuer();
        let token = issuer
            .issue(&user(), SESSION, Utc::now(), far())
            .expect("issue")
            .token;
        let parts: Vec<&str> = token.split('.').collect();

        let mut claims = payload(&token);
        claims["sub"] = serde_json::Value::String(UserId::new().to_string());
        let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(issuer.verify(&forged), Err(TokenError::Invalid));

        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64");
        signature[0] ^= 1;
        let resigned = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(signature)
        );
        assert_eq!(issuer.verify(&resigned), Err(TokenError::Invalid));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_invalid() {
        let issuer = issuer();
        let token = issuer
            .issue(&user(), SESSION, Utc::now(), far())
            .expect("issue")
            .token;
        let claims = payload(&token);
        for alg in ["none", "None", "NONE"] {
            let header = serde_json::json!({ "alg": alg, "typ": "JWT" });
            let unsigned = format!("{}.{}.", b64(&header), b64(&claims));
            assert_eq!(issuer.verify(&unsigned), Err(TokenError::Invalid), "{alg}");
            let with_old_signature =
                format!("{}.{}", unsigned, token.rsplit('.').next().unwrap_or(""));
            assert_eq!(
                issuer.verify(&with_old_signature),
                Err(TokenError::Invalid),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_token_signed_with_another_hmac_algorithm_is_invalid() {
        let secret = "0123456789abcdef0123456789abcdef";
        let issuer = issuer_with(secret, ISSUER);
        let token = issuer
            .issue(&user(), SESSION, Utc::now(), far())
            .expect("issue")
            .token;
        let claims = payload(&token);
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let other = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .expect("encode");
            assert_eq!(issuer.verify(&other), Err(TokenError::Invalid), "{alg:?}");
        }
    }

    #[test]
    fn a_token_of_another_issuer_or_secret_is_invalid() {
        let ours = issuer();
        let user = user();
        let foreign_iss = issuer_with("0123456789abcdef0123456789abcdef", "someone-else")
            .issue(&user, SESSION, Utc::now(), far())
            .expect("issue");
        assert_eq!(ours.verify(&foreign_iss.token), Err(TokenError::Invalid));
        let foreign_key = issuer_with("another-secret-another-secret-!!", ISSUER)
            .issue(&user, SESSION, Utc::now(), far())
            .expect("issue");
        assert_eq!(ours.verify(&foreign_key.token), Err(TokenError::Invalid));
    }

    #[test]
    fn garbage_and_tokens_without_the_required_claims_are_invalid() {
        let issuer = issuer();
        for garbage in ["", "abc", "a.b.c", "...", "Bearer x.y.z"] {
            assert_eq!(
                issuer.verify(garbage),
                Err(TokenError::Invalid),
                "{garbage:?}"
            );
        }
        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let exp = Utc::now().timestamp() + 600;
        let id = UserId::new().to_string();
        let sid = SESSION.to_string();
        let complete = serde_json::json!({ "sub": id, "role": "ADMIN", "iat": 0, "exp": exp, "iss": ISSUER, "jti": "x", "sid": sid });
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &complete, &key).expect("encode");
        let issuer_with_that_key = issuer_with("0123456789abcdef0123456789abcdef", ISSUER);
        assert!(
            issuer_with_that_key.verify(&token).is_ok(),
            "the complete claims pass"
        );
        for claims in [
            serde_json::json!({ "sub": "not-a-uuid", "role": "ADMIN", "iat": 0, "exp": exp, "iss": ISSUER, "jti": "x", "sid": sid }),
            serde_json::json!({ "role": "ADMIN", "iat": 0, "exp": exp, "iss": ISSUER, "jti": "x", "sid": sid }),
            serde_json::json!({ "sub": id, "role": "ADMIN", "iat": 0, "iss": ISSUER, "jti": "x", "sid": sid }),
            serde_json::json!({ "sub": id, "role": "ADMIN", "iat": 0, "exp": exp, "jti": "x", "sid": sid }),
            // Issued before sessions existed, or with a session id that is none.
            serde_json::json!({ "sub": id, "role": "ADMIN", "iat": 0, "exp": exp, "iss": ISSUER, "jti": "x" }),
            serde_json::json!({ "sub": id, "role": "ADMIN", "iat": 0, "exp": exp, "iss": ISSUER, "jti": "x", "sid": "nope" }),
        ] {
            let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
                .expect("encode");
            assert_eq!(
                issuer_with_that_key.verify(&token),
                Err(TokenError::Invalid),
                "{claims}"
            );
        }
    }

    #[test]
    fn generated_secrets_are_long_and_random() {
        let a = generate_secret();
        let b = generate_secret();
        assert!(
            a.expose_secret().len() >= 43,
            "at least 256 bits of alphanumerics"
        );
        assert_ne!(a.expose_secret(), b.expose_secret());
        let issuer = JwtIssuer::new(a, ISSUER.into(), TimeDelta::minutes(5));
        let user = user();
        let token = issuer
            .issue(&user, SESSION, Utc::now(), far())
            .expect("issue");
        assert_eq!(issuer.verify(&token.token), Ok(holder(&user)));
    }
}
