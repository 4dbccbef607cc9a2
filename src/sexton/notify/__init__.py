"""Telling people: webhooks and e-mail when a task goes down or comes back, and on damage."""

from .watch import Notifier, wanted

__all__ = ["Notifier", "wanted"]
