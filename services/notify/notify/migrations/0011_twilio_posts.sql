-- Twilio's signature carries no timestamp: each signed post that acts is remembered by its
-- Twilio id (counseling_shared.twilio_replays), so a captured post replayed acts no more.
-- `settled` false: claimed by a request still acting (or one that crashed: taken over after
-- a lease). Stamped by the database's clock, pruned after 30 days.
CREATE TABLE twilio_posts (
    post_key text PRIMARY KEY,
    route text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    settled boolean NOT NULL DEFAULT false
);
CREATE INDEX twilio_posts_received_at ON twilio_posts (received_at);
