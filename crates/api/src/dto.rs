//! Response bodies shared by several handlers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use um_domain::model::{PictureKey, ProfileField, User};
use utoipa::ToSchema;
use uuid::Uuid;

/// A hypermedia link: what can be done next and how.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct Link {
    /// `self`, `update`, `delete` on a user; `self`, `first`, `last`, `next`, `prev` on a page.
    #[schema(value_type = String, example = "self")]
    pub rel: &'static str,
    /// An absolute URL, built from `PUBLIC_BASE_URL`.
    #[schema(format = Uri)]
    pub href: String,
    /// The HTTP method to use.
    #[schema(value_type = String, example = "GET")]
    pub method: &'static str,
    /// `view`, `update`, `delete` or `list`.
    #[schema(value_type = String, example = "view")]
    pub action: &'static str,
}

/// How absolute URLs are made.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `PUBLIC_BASE_URL` without a trailing slash.
    pub base: String,
    /// Where picture keys are appended: `S3_PUBLIC_URL`, or `{base}/pictures`.
    pub pictures: String,
}

impl Urls {
    #[must_use]
    pub fn picture(&self, key: &PictureKey) -> String {
        format!("{}/{key}", self.pictures)
    }
}

/// The user resource of the contract. Never carries a password, a hash or a token.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    #[schema(format = Email, max_length = 255)]
    pub email: String,
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_-]+$")]
    pub nickname: String,
    #[serde(flatten)]
    pub profile: ProfileBody,
    #[schema(value_type = crate::schema::Role)]
    pub role: &'static str,
    pub is_professional: bool,
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    pub email_verified: bool,
    pub is_locked: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub links: Vec<Link>,
}

impl UserResponse {
    #[must_use]
    pub fn new(user: User, urls: &Urls) -> Self {
        let this = format!("{}/users/{}", urls.base, user.id);
        let links = vec![
            Link {
                rel: "self",
                href: this.clone(),
                method: "GET",
                action: "view",
            },
            Link {
                rel: "update",
                href: this.clone(),
                method: "PUT",
                action: "update",
            },
            Link {
                rel: "delete",
                href: this,
                method: "DELETE",
                action: "delete",
            },
        ];
        Self {
            id: user.id.0,
            email: user.email.to_string(),
            nickname: user.nickname.to_string(),
            profile: ProfileBody::new(&user, urls),
            role: user.role.as_str(),
            is_professional: user.is_professional,
            professional_status_updated_at: user.professional_status_updated_at,
            email_verified: user.email_verified,
            is_locked: user.is_locked,
            last_login_at: user.last_login_at,
            created_at: user.created_at,
            updated_at: user.updated_at,
            links,
        }
    }
}

/// The profile of an account and its picture, as every response that shows an account carries
/// it (flattened into the account's object).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileBody {
    #[schema(max_length = 100)]
    pub first_name: Option<String>,
    #[schema(max_length = 100)]
    pub last_name: Option<String>,
    #[schema(max_length = 500)]
    pub bio: Option<String>,
    /// Read-only: set by uploading a picture; null when there is none. Points at
    /// `GET /pictures/{key}`, or at `{S3_PUBLIC_URL}/{key}` when that is configured.
    #[schema(format = Uri)]
    pub profile_picture_url: Option<String>,
    /// Read-only: the 128×128 thumbnail; null when there is no picture.
    #[schema(format = Uri)]
    pub profile_picture_thumbnail_url: Option<String>,
    /// An absolute `http`/`https` URL.
    #[schema(format = Uri, max_length = 255)]
    pub linkedin_profile_url: Option<String>,
    /// An absolute `http`/`https` URL.
    #[schema(format = Uri, max_length = 255)]
    pub github_profile_url: Option<String>,
}

impl ProfileBody {
    #[must_use]
    pub fn new(user: &User, urls: &Urls) -> Self {
        let text = |field| user.profile.get(field).map(str::to_owned);
        Self {
            first_name: text(ProfileField::FirstName),
            last_name: text(ProfileField::LastName),
            bio: text(ProfileField::Bio),
            profile_picture_url: user.picture.as_ref().map(|p| urls.picture(&p.main)),
            profile_picture_thumbnail_url: user
                .picture
                .as_ref()
                .map(|p| urls.picture(&p.thumbnail)),
            linkedin_profile_url: text(ProfileField::LinkedinProfileUrl),
            github_profile_url: text(ProfileField::GithubProfileUrl),
        }
    }
}

/// What anyone may see of an account, by its nickname: never its email, role or id.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProfile {
    pub nickname: String,
    #[serde(flatten)]
    pub profile: ProfileBody,
    pub is_professional: bool,
}

impl PublicProfile {
    #[must_use]
    pub fn new(user: User, urls: &Urls) -> Self {
        Self {
            profile: ProfileBody::new(&user, urls),
            nickname: user.nickname.to_string(),
            is_professional: user.is_professional,
        }
    }
}

/// A page of a listing with navigation links.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse<T> {
    pub items: Vec<T>,
    /// Every match, not only this page's.
    pub total: u64,
    /// `skip / limit + 1`.
    pub page: u64,
    /// The number of items on this page.
    pub size: usize,
    /// Absolute links `self`, `first`, `last`, and `next`/`prev` where they exist, keeping every
    /// filter.
    pub links: Vec<Link>,
}

/// A message answer such as `{"message": "Email verified successfully"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    #[schema(value_type = String, example = "Email verified successfully")]
    pub message: &'static str,
}

/// Navigation links of a page: `self`, `first`, `last`, and `next`/`prev` where they exist.
/// `href_for(skip)` builds the absolute URL of the page starting at `skip`.
pub fn page_links(
    skip: u64,
    limit: u64,
    total: u64,
    href_for: impl Fn(u64) -> String,
) -> Vec<Link> {
    let last = if total == 0 {
        0
    } else {
        (total - 1) / limit * limit
    };
    let link = |rel, skip| Link {
        rel,
        href: href_for(skip),
        method: "GET",
        action: "list",
    };
    let mut links = vec![link("self", skip), link("first", 0), link("last", last)];
    if skip + limit < total {
        links.push(link("next", skip + limit));
    }
    if skip > 0 {
        links.push(link("prev", skip.saturating_sub(limit)));
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rels(skip: u64, limit: u64, total: u64) -> Vec<(&'static str, String)> {
        page_links(skip, limit, total, |s| s.to_string())
            .into_iter()
            .map(|l| (l.rel, l.href))
            .collect()
    }

    #[test]
    fn middle_pages_link_both_ways() {
        assert_eq!(
            rels(10, 10, 35),
            vec![
                ("self", "10".into()),
                ("first", "0".into()),
                ("last", "30".into()),
                ("next", "20".into()),
                ("prev", "0".into())
            ]
        );
    }

    #[test]
    fn edges_have_no_link_beyond_them() {
        assert_eq!(
            rels(0, 10, 0),
            vec![
                ("self", "0".into()),
                ("first", "0".into()),
                ("last", "0".into())
            ]
        );
        let last_page = rels(30, 10, 35);
        assert!(last_page.iter().all(|(rel, _)| *rel != "next"));
        assert!(last_page.contains(&("prev", "20".into())));
        assert!(rels(3, 10, 100).contains(&("prev", "0".into())));
    }
}
