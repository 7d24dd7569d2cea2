-- Per-topic sequence numbers of topic notifications, handed out by Control as it sends them.
ALTER TABLE topics ADD COLUMN notification_seq INTEGER NOT NULL DEFAULT 0;
