"""The agent: a ReAct loop through litellm over one cluster's tools (see loop.py, tools.py, llm.py).

Importing this package does not import litellm; the first model call does.
"""

from vedder.agent.llm import check_model, complete, is_model
from vedder.agent.loop import AgentResult, run_agent

__all__ = ["AgentResult", "check_model", "complete", "is_model", "run_agent"]
