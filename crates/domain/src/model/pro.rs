//! The PRO (professional) upgrade rule: who may upgrade themselves, and what they still lack.

use super::User;

/// One condition of the PRO upgrade, in the order the contract lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProRequirement {
    EmailVerified,
    FirstName,
    LastName,
    Bio,
    ProfilePicture,
    LinkedinOrGithubUrl,
}

impl ProRequirement {
    /// Every requirement, in the contract's order.
    pub const ALL: [ProRequirement; 6] = [
        Self::EmailVerified,
        Self::FirstName,
        Self::LastName,
        Self::Bio,
        Self::ProfilePicture,
        Self::LinkedinOrGithubUrl,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerified => "email_verified",
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::Bio => "bio",
            Self::ProfilePicture => "profile_picture",
            Self::LinkedinOrGithubUrl => "linkedin_or_github_url",
        }
    }
}

/// Whether an account may upgrade itself to PRO: its email is verified, it is not locked, and
/// its profile is complete (first and last name, bio, a picture, and a LinkedIn or GitHub URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProUpgrade {
    pub eligible: bool,
    /// What is not satisfied yet, in the contract's order. Empty when only a lock stands in
    /// the way (a locked account cannot sign in to ask).
    pub missing: Vec<ProRequirement>,
}

impl ProUpgrade {
    #[must_use]
    pub fn assess(user: &User) -> Self {
        let profile = &user.profile;
        let checks = [
            (ProRequirement::EmailVerified, user.email_verified),
            (ProRequirement::FirstName, profile.first_name.is_some()),
            (ProRequirement::LastName, profile.last_name.is_some()),
            (ProRequirement::Bio, profile.bio.is_some()),
            (ProRequirement::ProfilePicture, user.picture.is_some()),
            (
                ProRequirement::LinkedinOrGithubUrl,
                profile.linkedin_profile_url.is_some() || profile.github_profile_url.is_some(),
            ),
        ];
        let missing: Vec<ProRequirement> = checks
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(requirement, _)| requirement)
            .collect();
        Self {
            eligible: missing.is_empty() && !user.is_locked,
            missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::{
        Bio, Email, Name, Nickname, PasswordHash, PictureFormat, PictureKey, PictureKeys, Profile,
        ProfileUrl, Role, UserId,
    };

    fn complete() -> User {
        User {
            id: UserId::new(),
            email: Email::parse("pro@example.com").expect("valid"),
            nickname: Nickname::parse("the_pro").expect("valid"),
            profile: Profile {
                first_name: Name::parse("Ada").expect("valid"),
                last_name: Name::parse("Lovelace").expect("valid"),
                bio: Bio::parse("Analyst.").expect("valid"),
                linkedin_profile_url: None,
                github_profile_url: ProfileUrl::parse("https://github.com/ada").expect("valid"),
            },
            picture: Some(PictureKeys {
                main: PictureKey::generate(PictureFormat::Jpeg),
                thumbnail: PictureKey::generate(PictureFormat::Jpeg),
            }),
            role: Role::Authenticated,
            is_professional: false,
            professional_status_updated_at: None,
            email_verified: true,
            is_locked: false,
            failed_login_attempts: 0,
            password_hash: PasswordHash::new("$argon2id$x".into()),
            last_login_at: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_complete_verified_unlocked_profile_is_eligible() {
        assert_eq!(
            ProUpgrade::assess(&complete()),
            ProUpgrade {
                eligible: true,
                missing: vec![]
            }
        );
        let mut linkedin_instead = complete();
        linkedin_instead.profile.github_profile_url = None;
        linkedin_instead.profile.linkedin_profile_url =
            ProfileUrl::parse("https://linkedin.com/in/ada").expect("valid");
        assert!(ProUpgrade::assess(&linkedin_instead).eligible);
    }

    #[test]
    fn each_missing_requirement_is_named_in_the_contracts_order() {
        let mut bare = complete();
        bare.email_verified = false;
        bare.profile.first_name = None;
        bare.profile.last_name = None;
        bare.profile.bio = None;
        bare.picture = None;
        bare.profile.github_profile_url = None;
        let assessment = ProUpgrade::assess(&bare);
        assert!(!assessment.eligible);
        let names: Vec<&str> = assessment.missing.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "email_verified",
                "first_name",
                "last_name",
                "bio",
                "profile_picture",
                "linkedin_or_github_url"
            ]
        );
    }

    #[test]
    fn one_gap_at_a_time_is_reported_alone() {
        type Break = fn(&mut User);
        let cases: [(Break, ProRequirement); 6] = [
            (|u| u.email_verified = false, ProRequirement::EmailVerified),
            (|u| u.profile.first_name = None, ProRequirement::FirstName),
            (|u| u.profile.last_name = None, ProRequirement::LastName),
            (|u| u.profile.bio = None, ProRequirement::Bio),
            (|u| u.picture = None, ProRequirement::ProfilePicture),
            (
                |u| u.profile.github_profile_url = None,
                ProRequirement::LinkedinOrGithubUrl,
            ),
        ];
        for (break_it, expected) in cases {
            let mut user = complete();
            break_it(&mut user);
            let assessment = ProUpgrade::assess(&user);
            assert!(!assessment.eligible, "{expected:?}");
            assert_eq!(assessment.missing, vec![expected]);
        }
    }

    #[test]
    fn a_locked_account_is_not_eligible_even_when_complete() {
        let mut locked = complete();
        locked.is_locked = true;
        let assessment = ProUpgrade::assess(&locked);
        assert!(!assessment.eligible);
        assert!(assessment.missing.is_empty());
    }
}
