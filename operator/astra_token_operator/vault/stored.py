"""Reading stored ledger data back into its models, with errors that never quote a value."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from astra_token_operator.vault.errors import VaultDataError

M = TypeVar("M", bound=BaseModel)


def parse_stored(model: type[M], data: dict[str, Any], *, operation: str, path: str) -> M:
    """Parse stored data into ``model``. pydantic's own message quotes the input
    (which may hold a token), so only field locations and reasons travel."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False, include_context=False)
        )
    raise VaultDataError(f"Vault {operation} {path}: stored {model.__name__} is invalid ({problems})",
                         operation=operation, path=path)
