"""Talking to a language model through litellm: the only module that imports litellm.

litellm is imported on the first model call, not when this module is imported, so commands that never
call a model (offline answers, ``--help``) never pay for it. Any litellm model string works: hosted
providers (``gpt-4o-mini``, ``anthropic/claude-…``; keys from the provider's env var such as
OPENAI_API_KEY), Ollama (``ollama_chat/llama3.1`` with ``api_base``), or any OpenAI-compatible server such
as llama.cpp or vLLM (``openai/<name>`` with ``api_base``). ``model_options`` in vedder.yaml holds
``api_base``, ``api_key``, ``temperature``, ``timeout``, ``num_retries``, ``retry_backoff_s`` and
``tool_calling``; anything else is passed to litellm as is.

Timeouts, rate limits, 5xx and connection errors are retried with exponential backoff, a bounded number
of times; authentication and unknown-model errors raise ModelError at once. Error messages never carry
API keys.

>>> is_model("offline"), is_model("openai/gpt-4o-mini")
(False, True)
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from vedder.errors import ModelError

OFFLINE = "offline"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 1.0
MAX_BACKOFF_S = 20.0
# Our own options; the rest of model_options goes to litellm.completion.
VEDDER_OPTIONS = frozenset({"tool_calling", "num_retries", "retry_backoff_s"})

KEY_HINT = ("set the provider's API key (OPENAI_API_KEY, ANTHROPIC_API_KEY, …) or model_options.api_key; "
            "local servers: model_options.api_base")
MODEL_HINT = ("use a litellm model string: gpt-4o-mini, anthropic/<model>, ollama_chat/llama3.1 or openai/<name> "
              "with model_options.api_base; `model: offline` answers from vetted pairs")

# litellm stacks them: "litellm.ContextWindowExceededError: litellm.BadRequestError: …Error: OpenAIException - "
_PREFIXES = re.compile(r"^(?:(?:litellm\.\w+|\w+Error):\s*|\w+Exception\s*-\s*)+")


class ModelUnavailable(ModelError):
    """The model kept timing out, rate limiting or failing after every retry (transient, unlike bad keys)."""


class ContextTooLong(ModelError):
    """The prompt (context plus the steps so far) no longer fits the model's context window."""


@dataclass
class ToolCall:
    """One tool call as the model sent it; ``arguments`` is the raw string, possibly not JSON."""

    id: str
    name: str
    arguments: str


@dataclass
class Reply:
    """A model reply: text and tool calls, with the tokens and cost of the call."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def message(self) -> dict[str, Any]:
        """The assistant message to append to the transcript."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


def is_model(model: str | None) -> bool:
    """Whether ``model`` names a model to call (``offline`` and empty do not). Never imports litellm."""
    return bool(model and model.strip() and model.strip().lower() != OFFLINE)


@cache
def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True
    return litellm


def check_model(model: str | None) -> str:
    """``model`` if litellm knows how to call it; ModelError (with a hint) otherwise."""
    if not is_model(model):
        raise ModelError(f"no model configured (model: {model or 'none'})", MODEL_HINT)
    litellm = _litellm()
    try:
        litellm.get_llm_provider(model)
    except Exception:
        raise ModelError(f"litellm does not know model '{model}'", MODEL_HINT) from None
    return model


def supports_tools(model: str, options: dict[str, Any] | None = None) -> bool:
    """Native tool calling: ``model_options.tool_calling`` when set, else what litellm knows of the model."""
    options = options or {}
    if options.get("tool_calling") is not None:
        return bool(options["tool_calling"])
    try:
        return bool(_litellm().supports_function_calling(model))
    except Exception:
        return False


def redact(text: str, options: dict[str, Any] | None = None) -> str:
    """``text`` without API keys: the configured ``api_key``, plus what the log redacts (key-like tokens, secret env vars)."""
    from vedder.log.store import redact as redact_secrets

    api_key = str((options or {}).get("api_key") or "")
    if len(api_key) >= 6:
        text = text.replace(api_key, "[redacted]")
    return redact_secrets(text)


def _one_line(exc: Exception, options: dict[str, Any]) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = _PREFIXES.sub("", lines[0] if lines else type(exc).__name__)
    text = redact(text, options)
    return text[:200] + ("…" if len(text) > 200 else "")


def _refused(exc: BaseException) -> OSError | None:
    """The refused or failed connection under ``exc``: litellm reports a server that is not running as an
    InternalServerError saying only "Connection error."; the OSError at the bottom of the chain says what happened."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _transient(litellm, exc: Exception) -> str | None:
    """A short reason when ``exc`` is worth retrying, else None."""
    if _refused(exc) is not None:
        return "connection failed"
    if isinstance(exc, litellm.Timeout):
        return "timed out"
    if isinstance(exc, litellm.RateLimitError):
        return "rate limited"
    if isinstance(exc, (litellm.InternalServerError, litellm.ServiceUnavailableError, litellm.BadGatewayError)):
        return "server error"
    if isinstance(exc, litellm.APIConnectionError):
        return "connection failed"
    return None


def _permanent(litellm, exc: Exception, model: str, options: dict[str, Any]) -> ModelError:
    detail = _one_line(exc, options)
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        return ModelError(f"model {model}: authentication failed: {detail}", KEY_HINT)
    if isinstance(exc, litellm.NotFoundError):
        return ModelError(f"model {model} not found: {detail}", MODEL_HINT)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ContextTooLong(f"model {model}: the prompt is too long for the model's context window: {detail}",
                              "lower context.token_budget in vedder.yaml (each agent step adds to the prompt too: "
                              "agent.max_steps), or use a model with a larger window")
    return ModelError(f"model {model} failed: {detail}")


def _missing_key(litellm, model: str, options: dict[str, Any]) -> str | None:
    """The provider's API key variable (OPENAI_API_KEY, …) when neither it nor ``model_options.api_key`` is set."""
    if options.get("api_key"):
        return None
    try:
        missing = litellm.validate_environment(model).get("missing_keys") or []
    except Exception:
        return None
    return next((name for name in missing if name.endswith("_API_KEY")), None)


def _api_base(litellm, model: str, options: dict[str, Any]) -> str | None:
    """Where the model is served: ``model_options.api_base``, else for OpenAI-protocol models the environment
    variables litellm reads for them (``OPENAI_BASE_URL``, ``OPENAI_API_BASE``: a local llama.cpp or vLLM server)."""
    if options.get("api_base"):
        return str(options["api_base"])
    try:
        provider = litellm.get_llm_provider(model)[1]
    except Exception:
        return None
    return (os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or None) if provider == "openai" else None


def _litellm_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in options.items() if k not in VEDDER_OPTIONS and v is not None}
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT_S)
    # Retries are ours (bounded, with backoff); neither litellm nor the OpenAI client retries on its own.
    kwargs["num_retries"] = 0
    kwargs["max_retries"] = 0
    return kwargs


def _reply(litellm, response: Any) -> Reply:
    message = response.choices[0].message
    calls = [
        ToolCall(id=call.id or f"call_{index}", name=call.function.name or "", arguments=call.function.arguments or "")
        for index, call in enumerate(getattr(message, "tool_calls", None) or [])
    ]
    usage = getattr(response, "usage", None)
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:  # litellm already priced the call (None: unknown price)
        cost = float(hidden["response_cost"] or 0.0)
    else:
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:
            cost = 0.0  # unknown price (local or unmapped models)
    return Reply(
        text=message.content or "",
        tool_calls=calls,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost=cost,
    )


def chat(
    model: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> Reply:
    """One model call with bounded retries; ModelError when it cannot succeed."""
    options = dict(options or {})
    litellm = _litellm()
    kwargs = _litellm_kwargs(options)
    missing = _missing_key(litellm, model, options)
    api_base = _api_base(litellm, model, options)
    if missing and not api_base:
        # Checked before calling: without a key some providers fail with a 500 we would retry as transient.
        raise ModelError(f"model {model}: no API key ({missing} is not set)", KEY_HINT)
    if missing:
        kwargs["api_key"] = "none"  # a local OpenAI-compatible server needs no key, but the client insists on one
    if tools:
        kwargs["tools"] = tools
    retries = max(0, int(options.get("num_retries", DEFAULT_RETRIES)))
    backoff = float(options.get("retry_backoff_s", DEFAULT_BACKOFF_S))
    for attempt in range(retries + 1):
        try:
            return _reply(litellm, litellm.completion(model=model, messages=messages, **kwargs))
        except Exception as exc:
            reason = _transient(litellm, exc)
            if reason is None:
                if type(exc).__module__.split(".")[0] not in ("litellm", "openai", "httpx"):
                    raise
                raise _permanent(litellm, exc, model, options) from None
            if attempt == retries:
                where = f" at {redact(str(api_base), options)}" if api_base else ""
                timeout = f" (timeout {kwargs['timeout']:g} s)" if reason == "timed out" else ""
                refused = _refused(exc)
                detail = _one_line(exc, options)
                if refused is not None:  # "Connection error." alone does not say the server is not there
                    detail = f"{detail.rstrip('.')} ({redact(refused.strerror or str(refused), options)})"
                raise ModelUnavailable(
                    f"model {model}{where} {reason}{timeout} after {attempt + 1} attempt{'s' * bool(attempt)}: {detail}",
                    "start the model server, or check model_options.api_base (or OPENAI_API_BASE)" if refused is not None
                    else "try again later, raise model_options.timeout / num_retries, or check model_options.api_base",
                ) from None
            time.sleep(min(MAX_BACKOFF_S, backoff * 2**attempt))


def complete(model: str, messages: list[dict[str, Any]], **options: Any) -> str:
    """The text of one completion, for one-shot uses (e.g. naming a mined query).

    ``options`` are model_options (api_base, temperature, timeout, num_retries, …).
    """
    return chat(check_model(model), messages, options=options).text.strip()
