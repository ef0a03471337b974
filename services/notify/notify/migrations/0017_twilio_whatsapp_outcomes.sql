-- WhatsApp sends through Twilio (MESSAGING_PROVIDER=twilio) are Twilio sends of unknown
-- outcome too: a `messaging` record, looked for by its `whatsapp:` recipient at the next
-- attempt (0012 allowed texts and page calls only, so such a send was never written down and
-- a retry after a timeout could send it twice).
ALTER TABLE twilio_unknown_outcomes
    DROP CONSTRAINT twilio_unknown_outcomes_channel_check,
    ADD CONSTRAINT twilio_unknown_outcomes_channel_check
        CHECK (channel IN ('sms', 'messaging', 'voice'));
