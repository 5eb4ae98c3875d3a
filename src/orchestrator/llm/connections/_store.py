"""Connections and per-model settings in the database, with their API keys sealed.

`ConnectionStore` is what the API changes and what the gateway reads (`specs()`); its
`version` rises with every change this process makes, so the gateway rebuilds at once
(other processes see a change within the gateway's cache time). The environment seeds
the first connections: `OLLAMA_URL`, `OPENAI_BASE_URL` (with `OPENAI_API_KEY`) and the
bundled model, each once (a seed an admin removed stays removed).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.core.errors import Conflict, NotFound
from orchestrator.core.secrets import SecretBox, SecretUnreadable
from orchestrator.db.models import ModelConnection, ModelConnectionSeed, ModelSetting, utcnow
from orchestrator.llm.connections._models import (
    ConnectionIn,
    ConnectionKind,
    ConnectionOut,
    ConnectionSpec,
    ConnectionUpdate,
    ModelSettings,
    ModelSettingsIn,
    ModelSettingsOut,
)

log = logging.getLogger(__name__)

_KEY_INFO = b"orchestrator model connection keys v1"
SEED_NAMES: dict[ConnectionKind, str] = {
    "ollama": "ollama",
    "openai": "openai",
    "embedded": "bundled",
}


def _key_context(connection_id: str) -> str:
    return f"model-connection:{connection_id}"


class ConnectionStore:
    """Model connections as data; see the module docstring."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.version = 0
        self._box: SecretBox | None = None
        self._seeded = False
        self._seed_lock = asyncio.Lock()

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox(
                self.settings.signing_key(), info=_KEY_INFO, label="connection API key"
            )
        return self._box

    def _changed(self) -> None:
        self.version += 1

    # -- seeding -------------------------------------------------------------------------

    def _seeds(self) -> list[tuple[ConnectionKind, str, str | None]]:
        seeds: list[tuple[ConnectionKind, str, str | None]] = [
            ("ollama", self.settings.ollama_url.rstrip("/"), None)
        ]
        if self.settings.openai_base_url:
            seeds.append(
                ("openai", self.settings.openai_base_url.rstrip("/"), self.settings.openai_api_key)
            )
        seeds.append(("embedded", "", None))
        return seeds

    async def seed(self) -> None:
        """Create the environment's connections that were never made (idempotent; safe
        when several processes start at once)."""
        if self._seeded:
            return
        async with self._seed_lock:
            if self._seeded:
                return
            for kind, url, key in self._seeds():
                try:
                    await self._seed_one(kind, url, key)
                except IntegrityError:
                    log.info("another process seeded the %s connection %s first", kind, url)
            self._seeded = True
            self._changed()

    async def _seed_one(self, kind: ConnectionKind, url: str, key: str | None) -> None:
        seed_key = f"{kind}:{url}"
        async with self.sessions() as db:
            if await db.get(ModelConnectionSeed, seed_key) is not None:
                return
            db.add(ModelConnectionSeed(key=seed_key))
            same = await db.scalar(
                select(ModelConnection.id).where(
                    ModelConnection.kind == kind, ModelConnection.base_url == url
                )
            )
            if same is None:
                names = set(await db.scalars(select(ModelConnection.name)))
                name, n = SEED_NAMES[kind], 1
                while name in names:
                    n += 1
                    name = f"{SEED_NAMES[kind]}-{n}"
                row = ModelConnection(
                    kind=kind, name=name, base_url=url, position=await self._next_position(db)
                )
                db.add(row)
                await db.flush()
                if key:
                    row.api_key = self.box.seal({"key": key}, _key_context(row.id))
            await db.commit()

    # -- reading -------------------------------------------------------------------------

    async def specs(self) -> tuple[list[ConnectionSpec], dict[tuple[str, str], ModelSettings]]:
        """Every connection (in answering order) and every model's settings."""
        await self.seed()
        async with self.sessions() as db:
            rows = list(
                await db.scalars(
                    select(ModelConnection).order_by(
                        ModelConnection.position, ModelConnection.created_at
                    )
                )
            )
            settings = list(await db.scalars(select(ModelSetting)))
        specs = [
            ConnectionSpec(
                id=row.id,
                kind=row.kind,  # type: ignore[arg-type]
                name=row.name,
                base_url=row.base_url,
                api_key=self._key(row),
                enabled=row.enabled,
            )
            for row in rows
        ]
        by_model = {
            (s.connection_id, s.model): ModelSettings(
                native_tools=s.native_tools,  # type: ignore[arg-type]
                context_length=s.context_length,
                temperature=s.temperature,
                vision=s.vision,
            )
            for s in settings
        }
        return specs, by_model

    def _key(self, row: ModelConnection) -> str | None:
        if not row.api_key:
            return None
        try:
            return str(self.box.open(row.api_key, _key_context(row.id))["key"])
        except (KeyError, SecretUnreadable) as exc:  # reported; the connection runs keyless
            log.warning("the API key of connection %s cannot be read: %s", row.name, exc)
            return None

    async def spec(self, connection_id: str) -> ConnectionSpec:
        """One connection as the gateway would serve it (its key opened), or `NotFound`."""
        async with self.sessions() as db:
            row = await _row(db, connection_id)
        return ConnectionSpec(
            id=row.id,
            kind=row.kind,  # type: ignore[arg-type]
            name=row.name,
            base_url=row.base_url,
            api_key=self._key(row),
            enabled=row.enabled,
        )

    async def list_all(self) -> list[ConnectionOut]:
        """Every connection, in answering order."""
        await self.seed()
        async with self.sessions() as db:
            rows = await db.scalars(
                select(ModelConnection).order_by(
                    ModelConnection.position, ModelConnection.created_at
                )
            )
            return [_out(row) for row in rows]

    async def get(self, connection_id: str) -> ConnectionOut:
        """One connection, or `NotFound`."""
        async with self.sessions() as db:
            return _out(await _row(db, connection_id))

    # -- changing ------------------------------------------------------------------------

    async def create(self, body: ConnectionIn) -> ConnectionOut:
        """Add a connection; a taken name is a `Conflict`."""
        await self.seed()
        async with self.sessions() as db:
            row = ModelConnection(
                kind=body.kind,
                name=body.name,
                base_url=body.base_url,
                enabled=body.enabled,
                position=await self._next_position(db),
            )
            db.add(row)
            try:
                await db.flush()
            except IntegrityError as exc:
                raise Conflict(f"a connection named {body.name!r} exists already") from exc
            if body.api_key:
                row.api_key = self.box.seal({"key": body.api_key}, _key_context(row.id))
            await db.commit()
            self._changed()
            return _out(row)

    async def update(self, connection_id: str, body: ConnectionUpdate) -> ConnectionOut:
        """Change the fields given; `api_key: null` forgets the key."""
        async with self.sessions() as db:
            row = await _row(db, connection_id)
            given = body.model_fields_set
            if row.kind == "embedded" and given & {"base_url", "api_key"}:
                raise Conflict("the bundled model has no URL or key to change")
            if body.name is not None:
                row.name = body.name
            if body.base_url is not None:
                row.base_url = body.base_url
            if body.enabled is not None:
                row.enabled = body.enabled
            if "api_key" in given:
                row.api_key = (
                    self.box.seal({"key": body.api_key}, _key_context(row.id))
                    if body.api_key
                    else None
                )
            row.updated_at = utcnow()
            try:
                await db.commit()
            except IntegrityError as exc:
                raise Conflict(f"a connection named {body.name!r} exists already") from exc
            self._changed()
            return _out(row)

    async def delete(self, connection_id: str) -> None:
        """Remove a connection and its models' settings."""
        async with self.sessions() as db:
            row = await _row(db, connection_id)
            await db.execute(delete(ModelSetting).where(ModelSetting.connection_id == row.id))
            await db.delete(row)
            await db.commit()
        self._changed()

    async def model_settings(self) -> list[ModelSettingsOut]:
        """Every model's stored settings."""
        async with self.sessions() as db:
            rows = await db.scalars(
                select(ModelSetting).order_by(ModelSetting.connection_id, ModelSetting.model)
            )
            return [_settings_out(row) for row in rows]

    async def set_model_settings(self, body: ModelSettingsIn) -> ModelSettingsOut:
        """Store one model's settings (all defaults: forget them)."""
        async with self.sessions() as db:
            await _row(db, body.connection_id)
            row = await db.get(ModelSetting, (body.connection_id, body.model))
            if row is None:
                row = ModelSetting(connection_id=body.connection_id, model=body.model)
                db.add(row)
            row.native_tools = body.native_tools
            row.context_length = body.context_length
            row.temperature = body.temperature
            row.vision = body.vision
            row.updated_at = utcnow()
            out = _settings_out(row)
            if body.native_tools == "auto" and not any(
                (body.context_length, body.temperature is not None, body.vision is not None)
            ):
                await db.delete(row)
            await db.commit()
        self._changed()
        return out

    @staticmethod
    async def _next_position(db: AsyncSession) -> int:
        highest = await db.scalar(select(func.max(ModelConnection.position)))
        return 0 if highest is None else highest + 1


async def _row(db: AsyncSession, connection_id: str) -> ModelConnection:
    row = await db.get(ModelConnection, connection_id)
    if row is None:
        raise NotFound("no such connection")
    return row


def _out(row: ModelConnection) -> ConnectionOut:
    return ConnectionOut(
        id=row.id,
        kind=row.kind,
        name=row.name,
        base_url=row.base_url,
        has_api_key=bool(row.api_key),
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _settings_out(row: ModelSetting) -> ModelSettingsOut:
    return ModelSettingsOut(
        connection_id=row.connection_id,
        model=row.model,
        native_tools=row.native_tools,
        context_length=row.context_length,
        temperature=row.temperature,
        vision=row.vision,
        updated_at=row.updated_at,
    )
