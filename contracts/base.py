"""Shared model configuration and field types of all contract models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints


class ContractModel(BaseModel):
    """Strict about shape (unknown fields are errors), and never echoes input in errors."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        hide_input_in_errors=True,
    )


#: Identifier of a message (CloudEvents ``id``), safe in Kafka headers and URLs.
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
#: A person's name as written on the identity card.
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
#: Name of an institution, office or officer.
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100)]
#: A postal address.
Address = Annotated[str, StringConstraints(min_length=1, max_length=200)]
#: Free-text remarks.
Remarks = Annotated[str, StringConstraints(max_length=500)]
#: Number of a certificate (婚育证明, 孕检证明, 出生医学证明); formats differ by province.
DocumentNumber = Annotated[str, StringConstraints(min_length=1, max_length=40)]
#: Mainland mobile (11 digits) or landline with area code, optional extension.
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?)$")]


def _a_json_number(value: Any) -> Any:
    """A count is a JSON number, as its schema says: never text ("2") nor true/false (pydantic's lax mode would take
    both); 2.0 is the integer 2, as in JSON Schema."""
    if isinstance(value, (str, bytes, bool)):
        raise ValueError("a whole number, not text or true/false")
    return value


#: A whole number as JSON Schema's "integer" is: 2 and 2.0, never "2" or true.
Count = Annotated[int, BeforeValidator(_a_json_number)]


def count_between(low: int, high: int) -> Any:
    """A Count from `low` to `high`, for an optional field (the bounds go inside, where the schema keeps them)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_a_json_number)]
