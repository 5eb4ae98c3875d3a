"""Completions as agent turns: model ids to agents, messages to a stored conversation,
and the turn started through the runtime like any chat."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from orchestrator.agents import DEFAULT_AGENT
from orchestrator.core.errors import InvalidInput, ModelNotFound, NotFound, OrchestratorError
from orchestrator.db.models import Run
from orchestrator.openai_api._schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    InputMessage,
    ModelCard,
    ModelList,
)
from orchestrator.openai_api._translate import CompletionTranslator, RunFailure
from orchestrator.runs.service import title_from
from orchestrator.runtime import Runtime
from orchestrator.schemas.runs import ChatRequest
from orchestrator.services.conversations import (
    add_message,
    create_conversation,
    delete_conversation,
    get_conversation,
)

AGENT_PREFIX = "agent/"
_AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_STORED_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


@dataclass(frozen=True)
class Target:
    """Who answers a completion: an agent, on its own model or on the one named."""

    agent: str
    model: str | None


class CompletionService:
    """The `/v1` use cases over one process's `Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def models(self) -> ModelList:
        """`agent/NAME` for every agent, then every chat model the providers offer."""
        created = int(self.runtime.started_at)
        cards = [
            ModelCard(id=f"{AGENT_PREFIX}{agent.name}", created=created, owned_by="orchestrator")
            for agent in await self.runtime.agents.list()
        ]
        for info in await self.runtime.models.list_models():
            if info.capabilities and "completion" not in info.capabilities:
                continue  # embedding models cannot answer
            cards.append(
                ModelCard(id=info.id or info.name, created=created, owned_by=info.provider)
            )
        return ModelList(data=cards)

    async def model(self, model_id: str) -> ModelCard:
        """One entry of `models()`, or `ModelNotFound`."""
        for card in (await self.models()).data:
            if card.id == model_id:
                return card
        raise ModelNotFound(f"the model {model_id!r} does not exist", model=model_id)

    async def target(self, model_id: str) -> Target:
        """The agent (and model) a model id names; `ModelNotFound` for anything else."""
        if model_id.startswith(AGENT_PREFIX):
            name = model_id.removeprefix(AGENT_PREFIX)
            if not _AGENT_NAME.match(name):
                raise ModelNotFound(f"the model {model_id!r} does not exist", model=model_id)
            try:
                await self.runtime.agents.get(name)
            except NotFound:
                raise ModelNotFound(
                    f"the model {model_id!r} does not exist (no agent {name!r})", model=model_id
                ) from None
            return Target(agent=name, model=None)
        await self.runtime.models.resolve(model_id)  # ModelNotFound names what there is
        return Target(agent=DEFAULT_AGENT, model=model_id)

    async def start(
        self, user_id: int, request: ChatCompletionRequest, conversation_id: str | None
    ) -> Run:
        """Store the messages (a new conversation, or the one continued) and start the turn."""
        if request.tools:
            raise InvalidInput("client-side tools are not supported: the agent calls its own tools")
        target = await self.target(request.model)
        last = request.messages[-1]
        if last.role != "user" or not last.text().strip():
            raise InvalidInput("the last message must be the user's, and not empty")
        created = conversation_id is None
        if conversation_id is None:
            conversation_id = await self._new_conversation(user_id, request.messages, target)
        else:
            async with self.runtime.sessions() as db:
                await get_conversation(db, user_id, conversation_id)
        chat = ChatRequest(
            message=last.text(),
            conversation_id=conversation_id,
            model=target.model,
            agent=target.agent,
        )
        try:
            return await self.runtime.runs.start_chat(user_id, chat)
        except OrchestratorError:
            if created:  # refused (a quota...): leave no half-made conversation behind
                async with self.runtime.sessions() as db:
                    await delete_conversation(db, user_id, conversation_id)
            raise

    async def _new_conversation(
        self, user_id: int, messages: list[InputMessage], target: Target
    ) -> str:
        """A conversation holding every message before the last (tool results excepted:
        the agent's tools are its own)."""
        first = next((m.text() for m in messages if m.role == "user"), "")
        async with self.runtime.sessions() as db:
            conversation = await create_conversation(
                db, user_id, title=title_from(first), model=target.model, agent=target.agent
            )
            for message in messages[:-1]:
                role = _STORED_ROLES.get(message.role)
                if role is not None and message.text():
                    await add_message(db, conversation, role, message.text())
            return conversation.id

    def translator(self, run: Run, request: ChatCompletionRequest) -> CompletionTranslator:
        """A translator for the run's events, labelled with the model id asked for."""
        return CompletionTranslator(
            completion_id=f"chatcmpl-{run.id}", model=request.model, created=int(time.time())
        )

    async def answer(self, run: Run, request: ChatCompletionRequest) -> ChatCompletion | RunFailure:
        """Wait for the run's end: the whole answer, or why there is none."""
        translator = self.translator(run, request)
        async for event in self.runtime.runs.follow(run.id):
            translator.chunks(event)
        return translator.failure or translator.completion()

    async def stream(
        self, run: Run, request: ChatCompletionRequest
    ) -> AsyncIterator[ChatCompletionChunk | RunFailure]:
        """The run's chunks as they come; a failure, if any, comes last."""
        translator = self.translator(run, request)
        yield translator.first_chunk()
        async for event in self.runtime.runs.follow(run.id):
            for chunk in translator.chunks(event):
                yield chunk
        if translator.failure is not None:
            yield translator.failure
            return
        if request.stream_options is not None and request.stream_options.include_usage:
            yield translator.usage_chunk()
