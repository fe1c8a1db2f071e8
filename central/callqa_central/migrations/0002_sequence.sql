-- Every score's and alert's place in its box's count (the envelope's seq), stored or quarantined,
-- so that a number that never arrives is seen: a hole between two numbers that did arrive.
-- Boxes older than seq send none and have no rows here.
CREATE TABLE sequence (
    site         TEXT NOT NULL,
    grp          TEXT NOT NULL,
    box          TEXT NOT NULL,
    epoch        TEXT NOT NULL,
    n            BIGINT NOT NULL,
    msg_id       TEXT NOT NULL,
    received_utc TEXT NOT NULL,
    PRIMARY KEY (site, grp, box, epoch, n)
);
CREATE INDEX sequence_received ON sequence (received_utc);
