"""The conversation log: every ask from every surface, with feedback, in SQLite."""

from vedder.log.store import ConversationLog, open_log

__all__ = ["ConversationLog", "open_log"]
