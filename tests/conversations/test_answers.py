"""A run's answer goes below its question, and ends the active branch only if the question
still does (the user may have moved to another branch while the run went on)."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.core.config import Settings
from orchestrator.db.models import Conversation, Message
from orchestrator.db.session import create_engine, create_session_factory, transact
from orchestrator.services.accounts import create_user
from orchestrator.services.conversations import Answer, add_answer, add_message


async def test_the_answer_follows_its_question_and_moves_the_branch_only_from_there(
    any_db_settings: Settings,
) -> None:
    engine = create_engine(any_db_settings)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as db:
            user = await create_user(db, "answers", "password-1")
            conversation = Conversation(user_id=user.id, title="t")
            db.add(conversation)
            await db.flush()
            question = await add_message(db, conversation, "user", "first?")
            other = await add_message(db, conversation, "user", "second?", parent_id=None)
            conversation_id, question_id, other_id = conversation.id, question.id, other.id
        # The user moved to the other branch meanwhile: the answer stays on its own.
        first = await transact(
            engine, add_answer, Answer(conversation_id, question_id, "one", "r1", [])
        )
        async with sessions() as db:
            active = await db.scalar(
                select(Conversation.active_message_id).where(Conversation.id == conversation_id)
            )
            stored = await db.get(Message, first)
        assert active == other_id
        assert stored is not None and (stored.parent_id, stored.role, stored.content) == (
            question_id,
            "assistant",
            "one",
        )
        # Its question ends the active branch: the answer does now.
        answer = Answer(conversation_id, other_id, "two", "r2", [{"name": "add"}], [{"n": 1}])
        second = await transact(engine, add_answer, answer)
        async with sessions() as db:
            active = await db.scalar(
                select(Conversation.active_message_id).where(Conversation.id == conversation_id)
            )
            stored = await db.get(Message, second)
        assert active == second
        assert stored is not None and (stored.tools_used, stored.citations, stored.run_id) == (
            [{"name": "add"}],
            [{"n": 1}],
            "r2",
        )
        # A conversation deleted while its run went on takes no answer.
        async with sessions() as db:
            gone = await db.get(Conversation, conversation_id)
            await db.delete(gone)
            await db.commit()
        late = Answer(conversation_id, other_id, "late", "r3", [])
        assert await transact(engine, add_answer, late) is None
    finally:
        await engine.dispose()
