-- Central QA store, first layout. Plain SQL that SQLite and PostgreSQL both accept:
-- times are fixed-width UTC text (YYYY-MM-DDTHH:MM:SS.ffffffZ) so text order is time order,
-- booleans are 0/1 integers, JSON documents are text.

-- One row per scored call (kind=score). msg_id is the envelope's, stable across the box's retries.
CREATE TABLE calls (
    msg_id       TEXT PRIMARY KEY,
    site         TEXT NOT NULL,
    grp          TEXT NOT NULL,
    box          TEXT NOT NULL,
    line         TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    call_ref     TEXT,
    start_utc    TEXT NOT NULL,
    end_utc      TEXT NOT NULL,
    duration_s   DOUBLE PRECISION NOT NULL,
    end_reason   TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    max_score    DOUBLE PRECISION NOT NULL,
    pass_mark    DOUBLE PRECISION NOT NULL,
    passed       INTEGER NOT NULL,
    fatal        INTEGER NOT NULL,
    alert_count  INTEGER NOT NULL,
    flags        TEXT NOT NULL,
    created_utc  TEXT NOT NULL,
    received_utc TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX calls_site_start ON calls (site, start_utc);
CREATE INDEX calls_start ON calls (start_utc);
CREATE INDEX calls_call_id ON calls (box, call_id);

-- The failed rubric items of each call, copied out of the body for the problem counts and
-- top-problem lists; site/grp/box/line/start_utc repeated so those queries need no join.
CREATE TABLE failed_items (
    msg_id     TEXT NOT NULL REFERENCES calls (msg_id),
    item_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    section    TEXT NOT NULL,
    deduction  DOUBLE PRECISION NOT NULL,
    points     DOUBLE PRECISION NOT NULL,
    fatal      INTEGER NOT NULL,
    site       TEXT NOT NULL,
    grp        TEXT NOT NULL,
    box        TEXT NOT NULL,
    line       TEXT NOT NULL,
    start_utc  TEXT NOT NULL,
    PRIMARY KEY (msg_id, item_id)
);
CREATE INDEX failed_items_site_start ON failed_items (site, start_utc);
CREATE INDEX failed_items_start ON failed_items (start_utc);

-- Live alerts (kind=alert), as the desk lights saw them.
CREATE TABLE alerts (
    msg_id       TEXT PRIMARY KEY,
    site         TEXT NOT NULL,
    grp          TEXT NOT NULL,
    box          TEXT NOT NULL,
    line         TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    alert_id     TEXT NOT NULL,
    item         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    t            DOUBLE PRECISION NOT NULL,
    created_utc  TEXT NOT NULL,
    received_utc TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX alerts_site_created ON alerts (site, created_utc);
CREATE INDEX alerts_call_id ON alerts (box, call_id);

-- Messages that failed the contract, kept with the reason. The key is a hash of topic and
-- payload, so a redelivered bad message is kept once.
CREATE TABLE quarantine (
    quarantine_key TEXT PRIMARY KEY,
    msg_id         TEXT,
    topic          TEXT NOT NULL,
    payload        TEXT NOT NULL,
    reason         TEXT NOT NULL,
    received_utc   TEXT NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received_utc);
