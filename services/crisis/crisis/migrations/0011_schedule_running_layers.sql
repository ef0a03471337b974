-- A PUT with `apply_from` `next_handoff` keeps each changed layer's running shift until that
-- layer's next handoff: those kept layers (position, layer, zone, until), as GET shows them.
ALTER TABLE schedules ADD COLUMN running_layers jsonb NOT NULL DEFAULT '[]';
