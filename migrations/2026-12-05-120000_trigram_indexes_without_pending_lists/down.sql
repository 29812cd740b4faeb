ALTER INDEX users_email_trgm_idx RESET (fastupdate);
ALTER INDEX users_nickname_trgm_idx RESET (fastupdate);
ALTER INDEX users_first_name_trgm_idx RESET (fastupdate);
ALTER INDEX users_last_name_trgm_idx RESET (fastupdate);
