"""Shared model configuration and field types of all contract models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


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
