"""Tenants' active intent models, parsed once per process and read again only when the active
version changes: a model is megabytes to fetch and decompress, the version check a few bytes.
The turn's intent step (activities/nlu.py) and the admin's try-a-message route share this."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from models.nlu_versions_store import active_model
from nlu.model import IntentModel


class ActiveIntentModels:
    def __init__(self, max_tenants: int = 1_000) -> None:
        self._max_tenants = max_tenants
        self._held: dict[uuid.UUID, tuple[int, IntentModel]] = {}

    async def current(self, session: AsyncSession, tenant_id: uuid.UUID) -> tuple[int | None, IntentModel | None]:
        """(active version, its model); (None, None) without one. Raises nlu.model.ModelFormatError
        when the stored model cannot be read (nothing is held for it then)."""
        held = self._held.get(tenant_id)
        version, artifact = await active_model(session, tenant_id, held[0] if held else None)
        if held is not None and version == held[0]:
            return held
        self._held.pop(tenant_id, None)
        if version is None or artifact is None:
            return None, None
        model = IntentModel.from_bytes(artifact)
        if len(self._held) >= self._max_tenants:  # many tenants trying once must not grow it without bound
            self._held.clear()
        self._held[tenant_id] = (version, model)
        return version, model
