"""`MagentoError`: a failure the fake store answers with Magento's error model.

Magento's web API renders every failure as ``{"message": template, "parameters": ...}``:
the message is a template with ``%1``-style (positional list) or ``%name`` (named object)
placeholders (`Magento\\Framework\\Webapi\\ErrorProcessor`). The fake keeps the template and
parameters apart, as Magento does, so a client has to render them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MagentoError", "not_found"]


class MagentoError(Exception):
    """An HTTP error status with Magento's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        parameters: Sequence[str] | Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.template = message
        self.parameters = parameters
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.template}
        if self.parameters is not None:
            out["parameters"] = (
                dict(self.parameters)
                if isinstance(self.parameters, Mapping)
                else list(self.parameters)
            )
        return out


def not_found(message: str, *parameters: str) -> MagentoError:
    return MagentoError(404, message, list(parameters) or None)
