"""The agent: a ReAct loop through litellm over one cluster's tools (see loop.py, tools.py, llm.py).

Loading this package leaves litellm unloaded; the first model call loads it.
"""

from vedder.agent.llm import check_model, complete, is_model
from vedder.agent.loop import AgentResult, run_agent

__all__ = ["AgentResult", "check_model", "complete", "is_model", "run_agent"]
