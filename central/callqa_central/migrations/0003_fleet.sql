-- Every box the store has heard from, from its retained status and last will (fleet.py).
-- A status replaces the stored one only when its key (session_started, session_connected,
-- state_rank, created_utc) is greater: state_rank online 0 < offline 1, so a box's last will
-- beats the online statuses of its own connection, a newer connection or process beats an
-- older one, and a late, stale status never overwrites a newer one. Boxes older than the
-- status `session` field key as ('', created, rank, created): by created alone.
CREATE TABLE boxes (
    site                 TEXT NOT NULL,
    grp                  TEXT NOT NULL,
    box                  TEXT NOT NULL,
    state                TEXT NOT NULL,
    since_utc            TEXT NOT NULL,
    first_seen_utc       TEXT NOT NULL,
    last_seen_utc        TEXT NOT NULL,
    session_started      TEXT NOT NULL,
    session_connected    TEXT NOT NULL,
    state_rank           INTEGER NOT NULL,
    created_utc          TEXT NOT NULL,
    version              TEXT NOT NULL,
    model                TEXT,
    lines                TEXT NOT NULL,
    outbox_depth         INTEGER,
    dropped              INTEGER,
    undurable            INTEGER,
    refused              INTEGER,
    unreceipted          INTEGER,
    oldest_unreceipted_s DOUBLE PRECISION,
    alerts               TEXT NOT NULL,
    losing_since_utc     TEXT,
    PRIMARY KEY (site, grp, box)
);

-- Every status received, in any order, for the history of a box's state and counters.
CREATE TABLE box_status (
    msg_id               TEXT PRIMARY KEY,
    site                 TEXT NOT NULL,
    grp                  TEXT NOT NULL,
    box                  TEXT NOT NULL,
    session_started      TEXT NOT NULL,
    session_connected    TEXT NOT NULL,
    state_rank           INTEGER NOT NULL,
    created_utc          TEXT NOT NULL,
    received_utc         TEXT NOT NULL,
    state                TEXT NOT NULL,
    outbox_depth         INTEGER,
    dropped              INTEGER,
    undurable            INTEGER,
    refused              INTEGER,
    unreceipted          INTEGER,
    oldest_unreceipted_s DOUBLE PRECISION,
    alerts               TEXT NOT NULL
);
CREATE INDEX box_status_received ON box_status (received_utc);
CREATE INDEX box_status_box ON box_status (site, grp, box, received_utc);

-- A line's last scored call, looked up per line for the silence rule.
CREATE INDEX calls_line_start ON calls (site, grp, box, line, start_utc);

-- Fleet alerts raised, one row per episode: whichever store process inserts it publishes it.
-- line is '' for a box that went offline.
CREATE TABLE fleet_alerts (
    site         TEXT NOT NULL,
    grp          TEXT NOT NULL,
    box          TEXT NOT NULL,
    line         TEXT NOT NULL,
    condition    TEXT NOT NULL,
    since_utc    TEXT NOT NULL,
    alert_id     TEXT NOT NULL,
    raised_utc   TEXT NOT NULL,
    PRIMARY KEY (site, grp, box, line, condition, since_utc)
);

-- Calls the site's CTI says it took, per seat group and hour (`callqa-central cti`), for
-- coverage: calls scored against calls taken. hour_utc is the hour's start, YYYY-MM-DDTHH in
-- UTC, the first 13 characters of a call's start_utc.
CREATE TABLE cti_calls (
    site      TEXT NOT NULL,
    grp       TEXT NOT NULL,
    hour_utc  TEXT NOT NULL,
    calls     INTEGER NOT NULL,
    PRIMARY KEY (site, grp, hour_utc)
);
