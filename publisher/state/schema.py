"""The schema and its versions, for both engines (migrations.py applies them).

SQLite keeps its version in ``PRAGMA user_version`` and upgrades a state file
through its whole history; PostgreSQL keeps it in ``schema_version`` and starts
from a baseline equal to SQLite's version 9. Later versions are written once, in
SQL both engines take, and appended to SHARED.
"""

from __future__ import annotations

SQLITE_HISTORY: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        post TEXT,
        problem TEXT
    );
    CREATE TABLE feeds (
        path TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE TABLE published (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        post_id TEXT NOT NULL UNIQUE,
        first_published TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL,
        tags TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
        created TEXT NOT NULL,
        confirmed TEXT
    );
    CREATE TABLE watermarks (
        subscriber INTEGER NOT NULL,
        digest TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (subscriber, digest)
    );
    CREATE TABLE digest_runs (
        id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL,
        slot TEXT NOT NULL,
        frozen TEXT NOT NULL,
        UNIQUE (digest, slot)
    );
    CREATE TABLE run_posts (
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        seq INTEGER NOT NULL,
        post_id TEXT NOT NULL,
        PRIMARY KEY (run, seq)
    );
    CREATE TABLE run_bodies (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        subject TEXT NOT NULL,
        text TEXT NOT NULL,
        html TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        subscriber INTEGER NOT NULL,
        body INTEGER NOT NULL REFERENCES run_bodies (id),
        fields TEXT NOT NULL,
        watermark INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retry', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        sent TEXT,
        UNIQUE (run, subscriber)
    );
    CREATE INDEX outbox_status ON outbox (status, run);
    """,
    """
    CREATE TABLE signups (
        address TEXT NOT NULL COLLATE NOCASE,
        client TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX signups_address ON signups (address, at);
    CREATE INDEX signups_client ON signups (client, at);
    CREATE TABLE subscriber_digests (
        subscriber INTEGER PRIMARY KEY,
        digest TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE skipped_slots (
        digest TEXT NOT NULL,
        slot TEXT NOT NULL,
        recorded TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (digest, slot)
    );
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        since TEXT NOT NULL
    );
    """,
    """
    DELETE FROM files;
    ALTER TABLE files ADD COLUMN html TEXT;
    """,
    # A post's fields as columns: reading back 10,000 posts no longer decodes 10,000 JSON
    # objects. The index is a cache: the next publish reads every file again.
    """
    DROP TABLE files;
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        problem TEXT,
        id TEXT,
        slug TEXT,
        title TEXT,
        published TEXT,
        updated TEXT,
        authors TEXT,
        tags TEXT,
        summary TEXT,
        html TEXT,
        url TEXT,
        draft INTEGER,
        revision TEXT
    );
    """,
    # Two more outbox states: 'bounced' (the server refused the recipient for good) apart from
    # 'failed', and 'unknown' (no reply to a message already handed over: maybe delivered).
    """
    CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        subscriber INTEGER NOT NULL,
        body INTEGER NOT NULL REFERENCES run_bodies (id),
        fields TEXT NOT NULL,
        watermark INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'retry', 'sent', 'failed', 'bounced', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        sent TEXT,
        UNIQUE (run, subscriber)
    );
    INSERT INTO outbox_new SELECT * FROM outbox;
    UPDATE outbox_new SET status = 'bounced' WHERE status = 'failed' AND error GLOB '5[0-9][0-9] *'
        AND subscriber IN (SELECT id FROM subscribers WHERE status = 'bounced');
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    CREATE INDEX outbox_status ON outbox (status, run);
    """,
    # Messages read from the bounce mailbox: each recorded in the transaction that applies it,
    # so a message read again after a crash is recognised and never applied twice.
    """
    CREATE TABLE mail_processed (
        key TEXT PRIMARY KEY,
        outcome TEXT NOT NULL,
        subscriber INTEGER,
        detail TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX mail_processed_subscriber ON mail_processed (subscriber, outcome, at);
    """,
    # Confirmation e-mails wait here, as sent bytes, for the sender: a sign-up never waits for SMTP.
    """
    CREATE TABLE confirmations (
        id INTEGER PRIMARY KEY,
        subscriber INTEGER NOT NULL,
        sender TEXT NOT NULL,
        address TEXT NOT NULL,
        message BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'retry', 'sent', 'failed', 'bounced', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        queued TEXT NOT NULL,
        sent TEXT
    );
    CREATE INDEX confirmations_status ON confirmations (status);
    """,
)

# SQLite's schema at version len(SQLITE_HISTORY), in PostgreSQL's words. Addresses compare
# case-insensitively through an index on lower(address); times stay ISO 8601 text, as in SQLite.
POSTGRES_BASELINE = """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        mtime_ns BIGINT NOT NULL,
        size BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        problem TEXT,
        id TEXT,
        slug TEXT,
        title TEXT,
        published TEXT,
        updated TEXT,
        authors TEXT,
        tags TEXT,
        summary TEXT,
        html TEXT,
        url TEXT,
        draft INTEGER,
        revision TEXT
    );
    CREATE TABLE feeds (path TEXT PRIMARY KEY, digest TEXT NOT NULL, mtime_ns BIGINT NOT NULL, size BIGINT NOT NULL);
    CREATE TABLE published (
        seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        post_id TEXT NOT NULL UNIQUE,
        first_published TEXT NOT NULL
    );
    CREATE TABLE subscribers (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        tags TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
        created TEXT NOT NULL,
        confirmed TEXT
    );
    CREATE UNIQUE INDEX subscribers_address ON subscribers (lower(address));
    CREATE TABLE watermarks (
        subscriber BIGINT NOT NULL,
        digest TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (subscriber, digest)
    );
    CREATE TABLE digest_runs (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        digest TEXT NOT NULL,
        slot TEXT NOT NULL,
        frozen TEXT NOT NULL,
        UNIQUE (digest, slot)
    );
    CREATE TABLE run_posts (
        run BIGINT NOT NULL REFERENCES digest_runs (id),
        seq BIGINT NOT NULL,
        post_id TEXT NOT NULL,
        PRIMARY KEY (run, seq)
    );
    CREATE TABLE run_bodies (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run BIGINT NOT NULL REFERENCES digest_runs (id),
        subject TEXT NOT NULL,
        text TEXT NOT NULL,
        html TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run BIGINT NOT NULL REFERENCES digest_runs (id),
        subscriber BIGINT NOT NULL,
        body BIGINT NOT NULL REFERENCES run_bodies (id),
        fields TEXT NOT NULL,
        watermark BIGINT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'retry', 'sent', 'failed', 'bounced', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        sent TEXT,
        UNIQUE (run, subscriber)
    );
    CREATE INDEX outbox_status ON outbox (status, run);
    CREATE TABLE signups (address TEXT NOT NULL, client TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX signups_address ON signups (lower(address), at);
    CREATE INDEX signups_client ON signups (client, at);
    CREATE TABLE subscriber_digests (subscriber BIGINT PRIMARY KEY, digest TEXT NOT NULL);
    CREATE TABLE skipped_slots (
        digest TEXT NOT NULL,
        slot TEXT NOT NULL,
        recorded TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (digest, slot)
    );
    CREATE TABLE locks (name TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL);
    CREATE TABLE mail_processed (
        key TEXT PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        outcome TEXT NOT NULL,
        subscriber BIGINT,
        detail TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX mail_processed_subscriber ON mail_processed (subscriber, outcome, at);
    CREATE TABLE confirmations (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        subscriber BIGINT NOT NULL,
        sender TEXT NOT NULL,
        address TEXT NOT NULL,
        message BYTEA NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'retry', 'sent', 'failed', 'bounced', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        queued TEXT NOT NULL,
        sent TEXT
    );
    CREATE INDEX confirmations_status ON confirmations (status);
    CREATE TABLE unsubscribes (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        subscriber BIGINT NOT NULL,
        address TEXT NOT NULL,
        at TEXT NOT NULL
    );
"""

# Versions after the baseline, for both engines (version len(SQLITE_HISTORY) + 1 onwards).
SHARED: tuple[str, ...] = (
    # WebSub: a hub still to be told that a feed (topic URL) changed; kept until it answers.
    """
    CREATE TABLE websub_pings (hub TEXT NOT NULL, topic TEXT NOT NULL, PRIMARY KEY (hub, topic));
    """,
    # The web pages' view of the tags, kept at publish time (publisher/tagindex.py), and the language
    # a reader signed up in. Forgetting the last publish makes the next one fill the new table.
    """
    CREATE TABLE web_tags (
        slug TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        search TEXT NOT NULL,
        position INTEGER NOT NULL UNIQUE,
        posts INTEGER NOT NULL,
        newest TEXT NOT NULL
    );
    ALTER TABLE subscribers ADD COLUMN language TEXT;
    DELETE FROM meta WHERE key = 'last_publish';
    """,
    # A post's image, enclosures and language (JSON; NULL when it has none). The index is a
    # cache: its posts are read again (POST_FORMAT).
    """
    ALTER TABLE files ADD COLUMN media TEXT;
    """,
    # Several senders share one outbox: a sender claims a few rows for a while (a lease) and a row
    # whose sender died goes to another once its lease has run out (state/claims.py). The send pace
    # shared by every sender of one SMTP server ([smtp] rate_limit across processes and hosts).
    """
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN lease_until TEXT;
    CREATE TABLE send_pace (name TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL);
    """,
    # Which posts each feed document lists (state/members.py), so that an edit re-renders only the
    # documents listing the post; and the content index's stat and problems apart from its posts'
    # bodies, so a publish compares the folder with the index without reading the bodies.
    # Forgetting the last publish makes the next one fill the new tables.
    """
    CREATE INDEX files_stat ON files (path, mtime_ns, size);
    CREATE INDEX files_problems ON files (path) WHERE problem IS NOT NULL;
    CREATE TABLE feed_docs (doc TEXT PRIMARY KEY, spec TEXT NOT NULL, members TEXT NOT NULL);
    CREATE TABLE feed_posts (doc TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (doc, path));
    CREATE INDEX feed_posts_path ON feed_posts (path);
    DELETE FROM meta WHERE key = 'last_publish';
    """,
)

VERSION = len(SQLITE_HISTORY) + len(SHARED)
