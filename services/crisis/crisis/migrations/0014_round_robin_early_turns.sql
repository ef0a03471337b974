-- Round-robin levels: who took a turn ahead of their place (standing in for someone the alert
-- had already paged), once per such turn; the rotation passes over them once when it reaches
-- them, so the person they stood in for keeps their place and nobody gets more turns.
-- `last_staff_id` is now where the rotation stands (after a stand-in: just before the person
-- who kept their place), no longer always the person paged last.
ALTER TABLE round_robin_turns ADD COLUMN early_staff_ids uuid[] NOT NULL DEFAULT '{}';
