-- Rate-limit counters shared by every instance: hits per key and fixed window. The service
-- weighs the previous window's hits by how much of it still overlaps the last minute (a sliding
-- window), so a burst at the edge of two windows is counted in both. Keys are SHA-256 digests:
-- no email address or client address is stored. Rows of windows that no longer count are swept.
CREATE TABLE rate_limit_hits (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer     NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_hits_window_start_idx ON rate_limit_hits (window_start);
