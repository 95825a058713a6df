"""One module per channel, each implementing :class:`notifier.base.Channel`."""
