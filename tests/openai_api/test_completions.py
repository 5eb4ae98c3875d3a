"""`/v1` through the official `openai` client, sync, async and streaming, as a script would."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Account, Api, scripted_gateway
from tests.openai_api.conftest import openai_client
from tests.support.api_keys import api_key
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import CALLS, sample_tools


def words(messages: list[dict]) -> int:
    """What the scripted model reports as prompt tokens: the words it was sent."""
    return sum(len(str(m.get("content") or "").split()) for m in messages)


def test_models_list_every_agent_and_the_chat_models(
    v1_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_api.register()
    client = openai_client(v1_api, api_key(v1_api, user))
    ids = [m.id for m in client.models.list()]
    assert {"agent/assistant", "agent/coder", "agent/planner", "scripted", "plain"} <= set(ids)
    assert "nomic-embed" not in ids  # an embedding model cannot answer
    assert client.models.retrieve("agent/coder").owned_by == "orchestrator"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("agent/nobody")


def test_completion_answers_with_real_usage_and_stores_the_conversation(
    v1_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_api.register()
    client = openai_client(v1_api, api_key(v1_api, user))
    model.enqueue(text="Hello there, friend")
    raw = client.chat.completions.with_raw_response.create(
        model="agent/assistant",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Say hello"},
        ],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello there, friend"
    assert completion.choices[0].finish_reason == "stop"
    sent = model.chat_requests[-1].messages
    assert [m["role"] for m in sent] == ["system", "system", "user"]  # agent's, caller's, user
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == words(sent)
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == words(sent) + 3
    conversation_id = raw.headers["x-conversation-id"]
    messages = v1_api.client.get(
        f"/conversations/{conversation_id}/messages", headers=user.headers
    ).json()["data"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Answer briefly."),
        ("user", "Say hello"),
        ("assistant", "Hello there, friend"),
    ]


def test_conversation_header_continues_the_conversation_and_is_echoed(
    v1_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_api.register()
    client = openai_client(v1_api, api_key(v1_api, user))
    model.enqueue(text="Blue it is")
    first = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "My colour is blue"}]
    )
    conversation_id = first.headers["x-conversation-id"]
    model.enqueue(text="You said blue")
    second = client.chat.completions.with_raw_response.create(
        model="scripted",
        messages=[{"role": "user", "content": "What is my colour?"}],
        extra_headers={"X-Conversation-Id": conversation_id},
    )
    assert second.headers["x-conversation-id"] == conversation_id
    assert second.parse().choices[0].message.content == "You said blue"
    sent = [(m["role"], m["content"]) for m in model.chat_requests[-1].messages[1:]]
    assert sent == [
        ("user", "My colour is blue"),
        ("assistant", "Blue it is"),
        ("user", "What is my colour?"),
    ]
    assert model.chat_requests[-1].body["model"] == "scripted"


def test_another_users_conversation_is_not_found(v1_api: Api, model: ScriptedModelServer) -> None:
    alice, bob = v1_api.register(), v1_api.register()
    model.enqueue(text="Noted")
    raw = openai_client(v1_api, api_key(v1_api, alice)).chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "secret plans"}]
    )
    for conversation_id in (raw.headers["x-conversation-id"], "no-such-conversation"):
        with pytest.raises(openai.NotFoundError) as caught:
            openai_client(v1_api, api_key(v1_api, bob)).chat.completions.create(
                model="scripted",
                messages=[{"role": "user", "content": "show me"}],
                extra_headers={"X-Conversation-Id": conversation_id},
            )
        assert caught.value.body == {
            "message": "conversation not found",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }


async def test_async_client_streams_tokens_and_usage(
    v1_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_api.register()
    model.enqueue(thinking="Short one", text="One two three four")
    client = AsyncOpenAI(
        base_url=f"{v1_api.base_url}/v1", api_key=api_key(v1_api, user), max_retries=0
    )
    stream = await client.chat.completions.create(
        model="agent/assistant",
        messages=[{"role": "user", "content": "Count to four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    await client.close()
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "One two three four"
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert reasoning == "Short one"
    assert chunks[0].choices[0].delta.role == "assistant"
    finished = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finished[-1] == "stop" and finished.count("stop") == 1
    usage = chunks[-1].usage
    assert not chunks[-1].choices and usage is not None
    assert usage.completion_tokens == 6  # two thinking words, four answer words
    assert usage.prompt_tokens == words(model.chat_requests[-1].messages)
    assert len({c.id for c in chunks}) == 1


async def test_async_client_whole_answer(v1_api: Api, model: ScriptedModelServer) -> None:
    user = v1_api.register()
    model.enqueue(text="Async hello")
    async with AsyncOpenAI(
        base_url=f"{v1_api.base_url}/v1", api_key=api_key(v1_api, user), max_retries=0
    ) as client:
        completion = await client.chat.completions.create(
            model="agent/writer", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "Async hello"
    assert completion.model == "agent/writer"


def test_agent_turn_with_tools_streams_its_answer(v1_api: Api, model: ScriptedModelServer) -> None:
    user = v1_api.register()
    model.enqueue(tool_calls=[("add", {"a": 2, "b": 3})])
    model.enqueue(text="The sum is 5")
    stream = openai_client(v1_api, api_key(v1_api, user)).chat.completions.create(
        model="agent/assistant",
        messages=[{"role": "user", "content": "2+3?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "The sum is 5"
    notes = [c.model_extra["orchestrator"] for c in chunks if c.model_extra.get("orchestrator")]
    tools = [n["data"] for n in notes if n["type"] == "tool"]
    assert [(t["name"], t["status"]) for t in tools] == [("add", "started"), ("add", "finished")]
    assert tools[1]["result"] == "5"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 1 + 4  # a call, then four words
    both = model.chat_requests[-2:]
    assert usage.prompt_tokens == sum(words(r.messages) for r in both)


def _pending_approval(api: Api, user: Account, deadline: float) -> tuple[str, str]:
    """(run id, approval id) of the user's run that waits, once it does."""
    while time.monotonic() < deadline:
        runs = api.client.get("/runs", params={"status": "waiting"}, headers=user.headers).json()
        for run in runs["data"]:
            events = api.client.get(f"/runs/{run['id']}/events", headers=user.headers).json()
            for event in events["data"]:
                if event["type"] == "approval_required":
                    return run["id"], event["data"]["approval_id"]
        time.sleep(0.05)
    raise AssertionError("no approval was requested")


def test_call_needing_approval_waits_and_is_approved_through_the_rest_route(
    v1_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_api.register()
    model.enqueue(tool_calls=[("danger", {"note": "approved"})])
    model.enqueue(text="Done as asked")
    client = openai_client(v1_api, api_key(v1_api, user))
    result: dict[str, object] = {}

    def script() -> None:
        stream = client.chat.completions.create(
            model="agent/assistant",
            messages=[{"role": "user", "content": "do the risky thing"}],
            stream=True,
        )
        result["chunks"] = list(stream)

    thread = threading.Thread(target=script)
    thread.start()
    run_id, approval_id = _pending_approval(v1_api, user, time.monotonic() + 20)
    time.sleep(0.5)  # the client keeps waiting (kept alive by comments)
    assert thread.is_alive() and "danger" not in CALLS
    decided = v1_api.client.post(
        f"/runs/{run_id}/approvals/{approval_id}",
        json={"decision": "approve"},
        headers=user.headers,
    )
    assert decided.status_code == 200, decided.text
    thread.join(timeout=20)
    chunks = result["chunks"]
    assert isinstance(chunks, list)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Done as asked" and CALLS == ["danger"]
    notes = [
        c.model_extra["orchestrator"]["type"] for c in chunks if c.model_extra.get("orchestrator")
    ]
    assert "approval_required" in notes


def test_stream_sends_keepalive_comments_while_an_approval_waits(
    v1_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_api.register()
    model.enqueue(tool_calls=[("danger", {"note": "no"})])
    model.enqueue(text="Not done")
    body = {
        "model": "agent/assistant",
        "messages": [{"role": "user", "content": "risky"}],
        "stream": True,
    }
    comments, data = [], []
    with httpx.stream(
        "POST",
        f"{v1_api.base_url}/v1/chat/completions",
        json=body,
        headers=user.headers,
        timeout=30,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        for line in lines:
            if line.startswith(":"):
                comments.append(line)
                if len(comments) == 3:
                    break
            elif line.startswith("data:"):
                data.append(line)
        run_id, approval_id = _pending_approval(v1_api, user, time.monotonic() + 5)
        v1_api.client.post(
            f"/runs/{run_id}/approvals/{approval_id}",
            json={"decision": "deny"},
            headers=user.headers,
        )
        data.extend(line for line in lines if line.startswith("data:"))
    assert len(comments) == 3
    assert data[-1] == "data: [DONE]" and CALLS == []


def test_unknown_model_is_404_in_openais_shape(v1_api: Api, model: ScriptedModelServer) -> None:
    user = v1_api.register()
    client = openai_client(v1_api, api_key(v1_api, user))
    for name in ("agent/nobody", "agent/../../etc", "no-such-model"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "model_not_found"
        assert caught.value.type == "invalid_request_error"
    assert model.chat_requests == []


def test_bad_key_is_401_in_openais_shape(v1_api: Api, model: ScriptedModelServer) -> None:
    for key in ("orch_not-a-real-key", "garbage"):
        with pytest.raises(openai.AuthenticationError) as caught:
            openai_client(v1_api, key).chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.code == "invalid_api_key"
    raw = httpx.get(f"{v1_api.base_url}/v1/models")
    assert raw.status_code == 401
    assert set(raw.json()["error"]) == {"message", "type", "param", "code"}


def test_bad_requests_are_400_in_openais_shape(v1_api: Api, model: ScriptedModelServer) -> None:
    user = v1_api.register()
    url = f"{v1_api.base_url}/v1/chat/completions"
    bad_bodies = [
        {"model": "scripted"},
        {"model": "scripted", "messages": []},
        {"model": "scripted", "messages": [{"role": "robot", "content": "x"}]},
        {"model": "scripted", "messages": [{"role": "user", "content": "x"}], "n": 3},
        "not json",
    ]
    for body in bad_bodies:
        response = (
            httpx.post(url, content=body, headers=user.headers)
            if isinstance(body, str)
            else httpx.post(url, json=body, headers=user.headers)
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
    client = openai_client(v1_api, api_key(v1_api, user))
    with pytest.raises(openai.UnprocessableEntityError):  # nothing for the agent to answer
        client.chat.completions.create(
            model="scripted", messages=[{"role": "assistant", "content": "hello?"}]
        )
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(
            model="scripted",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    assert (
        httpx.get(f"{v1_api.base_url}/v1/nothing-here", headers=user.headers).json()["error"][
            "code"
        ]
        == "not_found"
    )
    assert model.chat_requests == []


def test_an_oversized_body_is_413_in_openais_shape(v1_api: Api, model: ScriptedModelServer) -> None:
    user = v1_api.register()
    client = openai_client(v1_api, api_key(v1_api, user))
    huge = "word " * (3 * 1024 * 1024 // 5)  # over MAX_REQUEST_BYTES (2 MiB)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": huge}]
        )
    assert caught.value.status_code == 413
    assert caught.value.code == "request_too_large"
    assert caught.value.type == "invalid_request_error"
    assert model.chat_requests == []


def test_model_server_failure_is_an_openai_error(v1_api: Api, model: ScriptedModelServer) -> None:
    user = v1_api.register()
    model.enqueue(error=(500, "the GPU caught fire"))
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client(v1_api, api_key(v1_api, user)).chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code >= 500
    assert caught.value.response.json()["error"]["type"] == "server_error"


def test_stream_that_fails_ends_with_an_openai_error(
    v1_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_api.register()
    model.enqueue(error=(500, "the GPU caught fire"))
    stream = openai_client(v1_api, api_key(v1_api, user)).chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "server_error" and body["code"], body


def test_completion_and_continuation_on_any_database(
    v1_any_db_api: Api, model: ScriptedModelServer
) -> None:
    user = v1_any_db_api.register()
    client = openai_client(v1_any_db_api, api_key(v1_any_db_api, user))
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 1})])
    model.enqueue(text="Two")
    first = client.chat.completions.with_raw_response.create(
        model="agent/assistant", messages=[{"role": "user", "content": "1+1?"}]
    )
    assert first.parse().choices[0].message.content == "Two"
    assert first.parse().usage.completion_tokens == 2  # type: ignore[union-attr]
    model.enqueue(text="Still two")
    again = client.chat.completions.create(
        model="agent/assistant",
        messages=[{"role": "user", "content": "Sure?"}],
        extra_headers={"X-Conversation-Id": first.headers["x-conversation-id"]},
    )
    assert again.choices[0].message.content == "Still two"


def test_a_deleted_key_is_refused_at_once(v1_api: Api, model: ScriptedModelServer) -> None:
    user = v1_api.register()
    key = api_key(v1_api, user)
    client = openai_client(v1_api, key)
    assert any(m.id == "agent/assistant" for m in client.models.list())
    keys = v1_api.client.get("/auth/api-keys", headers=user.headers).json()["data"]
    deleted = v1_api.client.delete(f"/auth/api-keys/{keys[0]['id']}", headers=user.headers)
    assert deleted.status_code == 204
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_over_the_rate_limit_is_429_in_openais_shape(
    settings: Settings, model: ScriptedModelServer
) -> None:
    limited = settings.model_copy(
        update={"ollama_url": model.url, "rate_limit_per_minute": 1, "rate_limit_burst": 3}
    )
    app = create_app(limited, models=scripted_gateway(limited, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        user = api.register()
        client = openai_client(api, api_key(api, user))
        with pytest.raises(openai.RateLimitError) as caught:
            for _ in range(10):
                client.models.list()
        api.client.close()
    assert caught.value.response.headers["retry-after"]
    assert set(caught.value.response.json()["error"]) >= {"message", "type", "code"}


def test_over_the_concurrent_run_quota_is_429_and_stores_nothing(
    settings: Settings, model: ScriptedModelServer
) -> None:
    limited = settings.model_copy(
        update={"ollama_url": model.url, "quota_concurrent_runs": 1, "approval_timeout": 20.0}
    )
    app = create_app(limited, models=scripted_gateway(limited, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        api.register()  # the admin: quotas are for users
        user = api.register()
        client = openai_client(api, api_key(api, user))
        model.enqueue(tool_calls=[("danger", {"note": "x"})])
        model.enqueue(text="Not done")
        busy = threading.Thread(
            target=lambda: list(
                client.chat.completions.create(
                    model="scripted",
                    messages=[{"role": "user", "content": "risky"}],
                    stream=True,
                )
            )
        )
        busy.start()
        run_id, approval_id = _pending_approval(api, user, time.monotonic() + 20)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "one more"}]
            )
        assert caught.value.code == "quota_exceeded"
        assert caught.value.type == "insufficient_quota"
        conversations = api.client.get("/conversations", headers=user.headers).json()
        assert conversations["count"] == 1  # the refused one left nothing behind
        api.client.post(
            f"/runs/{run_id}/approvals/{approval_id}",
            json={"decision": "deny"},
            headers=user.headers,
        )
        busy.join(timeout=20)
        api.client.close()
