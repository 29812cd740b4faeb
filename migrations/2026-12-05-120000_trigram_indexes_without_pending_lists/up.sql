-- Searches never scan a GIN pending list. With `fastupdate` on (the default), rows written to
-- `users` land in each trigram index's unsorted pending list, up to gin_pending_list_limit (4 MB)
-- per index, and every search reads the whole list until VACUUM (autovacuum, not ANALYZE) merges
-- it: on 10,000 freshly inserted users a `q` search took ~8 ms instead of ~0.15 ms. Off, each
-- insert or name change updates the index directly (a users table is written rarely).
ALTER INDEX users_email_trgm_idx SET (fastupdate = off);
ALTER INDEX users_nickname_trgm_idx SET (fastupdate = off);
ALTER INDEX users_first_name_trgm_idx SET (fastupdate = off);
ALTER INDEX users_last_name_trgm_idx SET (fastupdate = off);
-- Turning it off does not merge what is already pending.
SELECT gin_clean_pending_list(i)
FROM unnest(ARRAY['users_email_trgm_idx', 'users_nickname_trgm_idx', 'users_first_name_trgm_idx',
                  'users_last_name_trgm_idx']::regclass[]) AS i;
