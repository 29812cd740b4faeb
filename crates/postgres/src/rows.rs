//! The rows of the `users` table as diesel reads and writes them, and their conversion from and
//! to the domain's values. The profile columns are one embedded [`ProfileRow`]: a new profile
//! field is a column here and a field of [`Profile`].

use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::{AsChangeset, Insertable, Queryable, QueryableByName, Selectable},
    query_builder::InsertStatement,
};
use um_domain::{
    model::{
        Email, Nickname, PasswordHash, PictureKey, PictureKeyError, PictureKeys, Profile,
        ProfileField, ProfilePatch, Role, User, UserId,
    },
    ports::{ImportedAccount, NewUser, RepoError, UserChanges},
};
use uuid::Uuid;

use crate::schema::users;

/// The profile columns of a `users` row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub(crate) struct ProfileRow {
    first_name: Option<String>,
    last_name: Option<String>,
    bio: Option<String>,
    linkedin_profile_url: Option<String>,
    github_profile_url: Option<String>,
}

impl ProfileRow {
    /// The stored text of `field`.
    #[must_use]
    pub(crate) fn get(&self, field: ProfileField) -> Option<&str> {
        match field {
            ProfileField::FirstName => self.first_name.as_deref(),
            ProfileField::LastName => self.last_name.as_deref(),
            ProfileField::Bio => self.bio.as_deref(),
            ProfileField::LinkedinProfileUrl => self.linkedin_profile_url.as_deref(),
            ProfileField::GithubProfileUrl => self.github_profile_url.as_deref(),
        }
    }

    fn texts(&self) -> impl Iterator<Item = (ProfileField, Option<&str>)> {
        ProfileField::ALL.into_iter().map(|f| (f, self.get(f)))
    }

    /// The columns that hold a value, as stored, unparsed (for the export and the import of an
    /// original, which judge them themselves).
    pub(crate) fn stored_texts(&self) -> Vec<(ProfileField, String)> {
        self.texts()
            .filter_map(|(field, text)| text.map(|t| (field, t.to_owned())))
            .collect()
    }
}

impl From<&Profile> for ProfileRow {
    fn from(p: &Profile) -> Self {
        let text = |field| p.get(field).map(str::to_owned);
        Self {
            first_name: text(ProfileField::FirstName),
            last_name: text(ProfileField::LastName),
            bio: text(ProfileField::Bio),
            linkedin_profile_url: text(ProfileField::LinkedinProfileUrl),
            github_profile_url: text(ProfileField::GithubProfileUrl),
        }
    }
}

/// The profile columns an update touches: `None` leaves a column alone, `Some(None)` clears it.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
pub(crate) struct ProfileChangeset {
    first_name: Option<Option<String>>,
    last_name: Option<Option<String>>,
    bio: Option<Option<String>>,
    linkedin_profile_url: Option<Option<String>>,
    github_profile_url: Option<Option<String>>,
}

impl From<&ProfilePatch> for ProfileChangeset {
    fn from(patch: &ProfilePatch) -> Self {
        let mut set = Self {
            first_name: None,
            last_name: None,
            bio: None,
            linkedin_profile_url: None,
            github_profile_url: None,
        };
        for (field, text) in patch.touched() {
            let column = match field {
                ProfileField::FirstName => &mut set.first_name,
                ProfileField::LastName => &mut set.last_name,
                ProfileField::Bio => &mut set.bio,
                ProfileField::LinkedinProfileUrl => &mut set.linkedin_profile_url,
                ProfileField::GithubProfileUrl => &mut set.github_profile_url,
            };
            *column = Some(text.map(str::to_owned));
        }
        set
    }
}

/// A `users` row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) nickname: String,
    #[diesel(embed)]
    pub(crate) profile: ProfileRow,
    pub(crate) profile_picture_key: Option<String>,
    pub(crate) profile_picture_thumbnail_key: Option<String>,
    pub(crate) role: String,
    pub(crate) is_professional: bool,
    pub(crate) professional_status_updated_at: Option<DateTime<Utc>>,
    pub(crate) email_verified: bool,
    pub(crate) is_locked: bool,
    pub(crate) failed_login_attempts: i32,
    pub(crate) hashed_password: String,
    pub(crate) last_login_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = RepoError;

    /// Stored values are parsed with the domain's constructors like any other input; a row that
    /// does not parse is an `Other` error naming the user and the column, never its value.
    fn try_from(row: UserRow) -> Result<Self, RepoError> {
        let id = row.id;
        let bad = |column: &str, e: &dyn std::fmt::Display| {
            RepoError::Other(anyhow::anyhow!(
                "stored column {column} of user {id} is invalid: {e}"
            ))
        };
        Ok(User {
            id: UserId(row.id),
            email: Email::parse(&row.email).map_err(|e| bad("email", &e))?,
            nickname: Nickname::parse(&row.nickname).map_err(|e| bad("nickname", &e))?,
            profile: Profile::from_texts(row.profile.texts())
                .map_err(|(field, e)| bad(field.as_str(), &e))?,
            picture: picture_keys(row.profile_picture_key, row.profile_picture_thumbnail_key)
                .map_err(|e| bad("profile_picture_key", &e))?,
            role: row.role.parse::<Role>().map_err(|e| bad("role", &e))?,
            is_professional: row.is_professional,
            professional_status_updated_at: row.professional_status_updated_at,
            email_verified: row.email_verified,
            is_locked: row.is_locked,
            failed_login_attempts: row.failed_login_attempts,
            password_hash: PasswordHash::new(row.hashed_password),
            last_login_at: row.last_login_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The two picture columns, which are set and cleared together.
pub(crate) fn picture_keys(
    main: Option<String>,
    thumbnail: Option<String>,
) -> Result<Option<PictureKeys>, PictureKeyError> {
    match (main, thumbnail) {
        (Some(main), Some(thumbnail)) => Ok(Some(PictureKeys {
            main: PictureKey::parse(&main)?,
            thumbnail: PictureKey::parse(&thumbnail)?,
        })),
        (None, None) => Ok(None),
        _ => Err(PictureKeyError),
    }
}

pub(crate) fn to_user(row: UserRow) -> Result<User, RepoError> {
    User::try_from(row)
}

/// A `users` row to insert: the one insert of an account, for sign-up, the command line and
/// imports alike ([`NewUserRow::insert`] is the only `INSERT INTO users` of the crate).
#[derive(Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub nickname: &'a str,
    #[diesel(embed)]
    pub profile: ProfileRow,
    pub role: &'a str,
    pub is_professional: bool,
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    pub email_verified: bool,
    pub is_locked: bool,
    pub failed_login_attempts: i32,
    pub hashed_password: &'a str,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<'a> NewUserRow<'a> {
    /// The row of `user`, with the role and verification the insert settled on.
    pub(crate) fn new(user: &'a NewUser, role: Role, email_verified: bool) -> Self {
        Self {
            id: user.id.0,
            email: user.email.as_str(),
            nickname: user.nickname.as_str(),
            profile: ProfileRow::from(&user.profile),
            role: role.as_str(),
            is_professional: false,
            professional_status_updated_at: None,
            email_verified,
            is_locked: false,
            failed_login_attempts: 0,
            hashed_password: user.password_hash.expose(),
            last_login_at: None,
            created_at: user.created_at,
            updated_at: user.created_at,
        }
    }

    /// The row of an imported account, under `nickname` (its own, or a generated one when it
    /// has none or its own is taken).
    pub(crate) fn imported(account: &'a ImportedAccount, nickname: &'a Nickname) -> Self {
        Self {
            id: account.id.0,
            email: account.email.as_str(),
            nickname: nickname.as_str(),
            profile: ProfileRow::from(&account.profile),
            role: account.role.as_str(),
            is_professional: account.is_professional,
            professional_status_updated_at: account.professional_status_updated_at,
            email_verified: account.email_verified,
            is_locked: account.is_locked,
            failed_login_attempts: i32::try_from(account.failed_login_attempts).unwrap_or(i32::MAX),
            hashed_password: account.password_hash.expose(),
            last_login_at: account.last_login_at,
            created_at: account.created_at,
            updated_at: account.updated_at,
        }
    }

    /// `INSERT INTO users` of this row; the caller adds the conflict handling and the
    /// returning clause it needs.
    pub(crate) fn insert(
        self,
    ) -> InsertStatement<users::table, <Self as Insertable<users::table>>::Values> {
        diesel::insert_into(users::table).values(self)
    }
}

/// The columns an update may touch; `None` leaves a column alone, `Some(None)` clears it.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
pub(crate) struct UserChangeset<'a> {
    email: Option<&'a str>,
    email_verified: Option<bool>,
    nickname: Option<&'a str>,
    #[diesel(embed)]
    profile: ProfileChangeset,
    role: Option<&'a str>,
}

impl<'a> From<&'a UserChanges> for UserChangeset<'a> {
    fn from(c: &'a UserChanges) -> Self {
        Self {
            email: c.email.as_ref().map(Email::as_str),
            email_verified: c.email_verified,
            nickname: c.nickname.as_ref().map(Nickname::as_str),
            profile: ProfileChangeset::from(&c.profile),
            role: c.role.map(Role::as_str),
        }
    }
}
