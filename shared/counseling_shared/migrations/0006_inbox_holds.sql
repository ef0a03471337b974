-- Stream order per aggregate, across a consumer's replicas: a message whose handler failed and
-- was nak'ed holds its subject (the envelope's aggregate id) until it is handled or
-- dead-lettered; meanwhile every replica naks that subject's later messages unhandled. Written
-- and deleted in the batches' own transactions; read by the statement that claims a batch's
-- inbox rows. A hold whose message never comes back lapses 5 minutes after it was due.
CREATE TABLE inbox_holds (
    consumer  text        NOT NULL,
    subject   text        NOT NULL,
    event_id  uuid        NOT NULL,
    due       timestamptz NOT NULL,
    PRIMARY KEY (consumer, subject)
);
CREATE INDEX inbox_holds_due ON inbox_holds (due);
