//! Collecting every bad field of a request before answering, so that a client sees all of them at once.

use std::fmt;

/// One field that broke its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every bad field of one request, in the order they were checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// A single bad field.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// True when no field is bad.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        if parts.is_empty() {
            write!(f, "Invalid request")
        } else {
            write!(f, "{}", parts.join("; "))
        }
    }
}

impl std::error::Error for ValidationErrors {}

/// Gathers field errors while a request body is turned into domain values: call
/// [`Validator::check`] for each field, then [`Validator::finish`] once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Records the error of `result` under `field`, returning the value when there is one.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(field, e.to_string());
                None
            }
        }
    }

    /// Like [`Validator::check`] for an optional input: `None` stays `None` without an error.
    pub fn check_opt<T, E: fmt::Display>(
        &mut self,
        field: &str,
        result: Option<Result<T, E>>,
    ) -> Option<T> {
        result.and_then(|r| self.check(field, r))
    }

    /// Records a missing required field.
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.error(field, "Field required");
        }
        value
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Every recorded field error, possibly none: for reports that refuse nothing (what an
    /// import had to change about an account).
    #[must_use]
    pub fn into_errors(self) -> ValidationErrors {
        ValidationErrors(self.errors)
    }

    /// `Ok` when no field was bad.
    ///
    /// # Errors
    /// Every recorded field error.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Email, Nickname};

    #[test]
    fn collects_every_bad_field_in_order() {
        let mut v = Validator::default();
        assert!(v.check("email", Email::parse("not an email")).is_none());
        assert!(v.check("nickname", Nickname::parse("ok_name")).is_some());
        assert!(v.required::<u8>("password", None).is_none());
        let errors = v.finish().expect_err("two fields are bad");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password"]);
    }

    #[test]
    fn finishes_cleanly_without_errors() {
        assert_eq!(Validator::default().finish(), Ok(()));
    }
}
