-- A picture is its main object and its thumbnail: both keys or neither. Keys are never reused,
-- and the orphan sweep asks which keys rows still point at, so both are uniquely indexed.
ALTER TABLE users
    ADD CONSTRAINT users_picture_keys_together
        CHECK ((profile_picture_key IS NULL) = (profile_picture_thumbnail_key IS NULL));
CREATE UNIQUE INDEX users_profile_picture_key_key
    ON users (profile_picture_key) WHERE profile_picture_key IS NOT NULL;
CREATE UNIQUE INDEX users_profile_picture_thumbnail_key_key
    ON users (profile_picture_thumbnail_key) WHERE profile_picture_thumbnail_key IS NOT NULL;
