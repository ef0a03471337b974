"""`GET /audit` documents every actor kind it can answer (the contract names `key`, `staff` and
`link`; the others are ours, and an integration reading the OpenAPI document must find them)."""

from typing import get_args

from counseling_shared.audit import ActorKind
from counseling_shared.http.audit import ActorOut


def test_every_actor_kind_is_described_on_the_audit_entry() -> None:
    description = ActorOut.model_fields["kind"].description or ""
    missing = [kind for kind in get_args(ActorKind) if f"`{kind}`" not in description]
    assert not missing, missing
