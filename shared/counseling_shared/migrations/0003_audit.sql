-- Who did what (contract: Identity, roles, audit). Append-only: the service only inserts, the
-- runtime database role holds no UPDATE or DELETE on it, and a trigger refuses both anyway.
-- Identifiers and coded values only: never a name, a contact detail or free text.

CREATE TABLE audit (
    id            bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor_kind    text        NOT NULL CHECK (actor_kind IN ('key', 'staff', 'link')),
    actor_id      text        NOT NULL,
    on_behalf_of  uuid,
    action        text        NOT NULL,
    resource      text        NOT NULL,
    resource_id   text,
    site_id       uuid,
    client_id     uuid,
    request_id    text        NOT NULL,
    status        integer     NOT NULL
);
CREATE INDEX audit_site ON audit (site_id, id);
CREATE INDEX audit_client ON audit (client_id, id) WHERE client_id IS NOT NULL;
CREATE INDEX audit_actor ON audit (actor_id, id);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are never updated or deleted';
END $$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
