"""Webhook push (推送): the subscriptions and their delivery log (`store`), the dispatcher that sends what the unit
of work stored (`dispatcher`) and the HTTP client it posts with (`http`)."""
