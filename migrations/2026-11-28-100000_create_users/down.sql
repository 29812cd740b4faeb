DROP TABLE email_verification_tokens;
DROP TABLE users;
