"""Stripe Identity webhooks into Prefect (layer 6).

Verifies ``Stripe-Signature`` on the raw body, turns each
``identity.verification_session.*`` event into the Prefect event
``stripe.identity.verification_session.<status>``, and resumes the flow run named by the
session's ``prefect_flow_run_id`` metadata with a `VerificationSessionUpdate`. Whatever
Prefect cannot take now is answered 503 so Stripe delivers it again.

```python
from prefect_stripe_identity.webhooks import construct_event, create_webhook_app

app = create_webhook_app(["whsec_new…", "whsec_old…"])    # ASGI: POST /webhooks/stripe
event = construct_event(body, headers["stripe-signature"], "whsec_…")
```

From the shell: ``prefect-stripe-identity webhooks serve --port 8484`` (secret in
``STRIPE_WEBHOOK_SECRET``) and ``prefect-stripe-identity webhooks replay --since 2h``.
"""

from prefect_stripe_identity.webhooks._app import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BUFFERED_BYTES,
    WEBHOOK_PATH,
    create_webhook_app,
)
from prefect_stripe_identity.webhooks._cli import add_webhooks_parser, run_webhooks_command
from prefect_stripe_identity.webhooks._dedupe import DedupeStore, InMemoryDedupe
from prefect_stripe_identity.webhooks._forwarder import Forwarder, PrefectForwarder, ResumeOutcome
from prefect_stripe_identity.webhooks._processor import (
    TERMINAL_STATUSES,
    ProcessResult,
    WebhookProcessor,
)
from prefect_stripe_identity.webhooks._replay import ReplaySummary, parse_since, replay_events
from prefect_stripe_identity.webhooks._signature import (
    DEFAULT_TOLERANCE,
    SignatureVerificationError,
    StripeEvent,
    construct_event,
    parse_event,
    verify_stripe_signature,
)

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_BUFFERED_BYTES",
    "DEFAULT_TOLERANCE",
    "TERMINAL_STATUSES",
    "WEBHOOK_PATH",
    "DedupeStore",
    "Forwarder",
    "InMemoryDedupe",
    "PrefectForwarder",
    "ProcessResult",
    "ReplaySummary",
    "ResumeOutcome",
    "SignatureVerificationError",
    "StripeEvent",
    "WebhookProcessor",
    "add_webhooks_parser",
    "construct_event",
    "create_webhook_app",
    "parse_event",
    "parse_since",
    "replay_events",
    "run_webhooks_command",
    "verify_stripe_signature",
]
