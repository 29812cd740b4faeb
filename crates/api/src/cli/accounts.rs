//! `create-admin`, `set-role`, `unlock`: one account at a time, through the `UserService`.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, anyhow};
use clap::Args;
use um_domain::{
    Error,
    model::{Email, Nickname, Password, Profile, Role},
    services::Registration,
};

use super::domain_error;
use crate::{config::Config, startup::Services};

/// `create-admin`: the options.
#[derive(Debug, Clone, Args)]
pub struct CreateAdminArgs {
    /// The new ADMIN's email address.
    #[arg(long)]
    pub email: String,
    /// Its nickname; a free one is generated when left out.
    #[arg(long)]
    pub nickname: Option<String>,
    /// Read the password from the first line of standard input instead of prompting for it.
    /// Without it, standard input must be a terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Creates a verified ADMIN and prints its id.
///
/// # Errors
/// A malformed email or nickname, a password that breaks the policy or that cannot be read, an
/// email or nickname that exists, or an unavailable database.
pub async fn create_admin(config: &Config, args: CreateAdminArgs) -> anyhow::Result<()> {
    let email =
        Email::parse(&args.email).map_err(|e| anyhow!("invalid email {:?}: {e}", args.email))?;
    let nickname = args
        .nickname
        .as_deref()
        .map(|n| Nickname::parse(n).map_err(|e| anyhow!("invalid nickname {n:?}: {e}")))
        .transpose()?;
    let raw = if args.password_stdin {
        password_from_stdin()?
    } else {
        password_from_prompt()?
    };
    let password =
        Password::parse(&raw).map_err(|e| anyhow!("the password is not accepted: {e}"))?;
    drop(raw);

    let services = Services::build(config).await?;
    let user = services
        .users
        .create_admin(Registration {
            email: email.clone(),
            password,
            nickname: nickname.clone(),
            profile: Profile::default(),
        })
        .await
        .map_err(|e| match e {
            Error::EmailExists | Error::EmailTaken => {
                anyhow!("an account with the email {email} exists already")
            }
            Error::NicknameTaken => anyhow!(
                "the nickname {} is taken",
                nickname.as_ref().map_or("", Nickname::as_str)
            ),
            other => domain_error(other, "creating the ADMIN"),
        })?;
    eprintln!(
        "created ADMIN {} with the nickname {}; its id:",
        user.email, user.nickname
    );
    println!("{}", user.id);
    Ok(())
}

/// One line of standard input, without its line break.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    anyhow::ensure!(read > 0, "no password on standard input");
    let trimmed = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(trimmed);
    anyhow::ensure!(!line.is_empty(), "the password on standard input is empty");
    Ok(line)
}

/// Asks twice on the terminal, without echo.
fn password_from_prompt() -> anyhow::Result<String> {
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "standard input is not a terminal: pass --password-stdin to read the password from it"
    );
    let first = rpassword::prompt_password("Password of the new ADMIN: ")
        .context("reading the password from the terminal")?;
    let second = rpassword::prompt_password("The same password again: ")
        .context("reading the password from the terminal")?;
    anyhow::ensure!(first == second, "the two passwords differ");
    Ok(first)
}

/// Sets the role of the account with `email`.
///
/// # Errors
/// A malformed email or role, an unknown account, the last ADMIN, an unavailable database.
pub async fn set_role(config: &Config, email: &str, role: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow!("invalid email {email:?}: {e}"))?;
    let role = role
        .parse::<Role>()
        .map_err(|e| anyhow!("invalid role {role:?}: {e}"))?;
    let services = Services::build(config).await?;
    let user = services
        .users
        .set_role_by_email(&email, role)
        .await
        .map_err(|e| match e {
            Error::UserNotFound => anyhow!("no account has the email {email}"),
            Error::LastAdmin => anyhow!(
                "{email} is the last ADMIN: make another account ADMIN before taking the role from it"
            ),
            other => domain_error(other, "setting the role"),
        })?;
    println!("{} is now {}", user.email, user.role);
    Ok(())
}

/// Lifts the lock of the account with `email` (and resets its failed-login counter).
///
/// # Errors
/// A malformed email, an unknown account, an unavailable database.
pub async fn unlock(config: &Config, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow!("invalid email {email:?}: {e}"))?;
    let services = Services::build(config).await?;
    let was_locked = services
        .repo
        .find_by_email(&email)
        .await
        .map_err(|e| domain_error(e.into(), "looking the account up"))?
        .is_some_and(|u| u.is_locked);
    let user = services
        .users
        .unlock_by_email(&email)
        .await
        .map_err(|e| match e {
            Error::UserNotFound => anyhow!("no account has the email {email}"),
            other => domain_error(other, "unlocking the account"),
        })?;
    if was_locked {
        println!("{} is unlocked", user.email);
    } else {
        println!(
            "{} was not locked; its failed-login counter is reset",
            user.email
        );
    }
    Ok(())
}
