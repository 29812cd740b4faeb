//! Checks the delivery tests share.

/// The first address of a header's list, if any.
pub(crate) fn first_address<'a>(list: Option<&'a mail_parser::Address<'a>>) -> Option<&'a str> {
    list.and_then(|a| a.first()).and_then(|a| a.address())
}

/// The envelope of a verification email to `to`: the recipient, the subject and a Message-ID of
/// the sender's domain.
pub(crate) fn assert_verification_envelope(message: &mail_parser::Message<'_>, to: &str) {
    assert_eq!(first_address(message.to()), Some(to));
    assert_eq!(
        message.subject(),
        Some("Confirm your email address for User Management")
    );
    assert!(
        message
            .message_id()
            .is_some_and(|m| m.ends_with("@example.com"))
    );
}
