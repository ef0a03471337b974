"""The contract names a resource's own id `id`; crisis first answered `<kind>_id` for some.

Both are served: readers written against the older name keep working, new ones read `id`.
"""

from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, Field, model_validator


def legacy_id(kind: str) -> Any:
    """The older name of `id`, marked deprecated in the OpenAPI document."""
    return Field(
        description=f"Deprecated: the same as `id` (the {kind}'s id), kept for older readers.",
        json_schema_extra={"deprecated": True},
    )


class WithId(BaseModel):
    """Fills `id` from the older field, so every place that builds the answer stays as it was."""

    legacy_id_field: ClassVar[str]

    id: UUID

    @model_validator(mode="before")
    @classmethod
    def id_from_legacy(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" not in data and cls.legacy_id_field in data:
            return {"id": data[cls.legacy_id_field], **data}
        return data
