"""`StripeIdentityClient` and `AsyncStripeIdentityClient`: the public entry points."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import httpx
from pydantic import SecretStr

from prefect_stripe_identity._base_client import (
    DEFAULT_API_BASE,
    DEFAULT_MAX_NETWORK_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncAPIClient,
    ClientLogger,
    RateLimiter,
    SyncAPIClient,
)
from prefect_stripe_identity._resources import (
    AsyncVerificationReports,
    AsyncVerificationSessions,
    VerificationReports,
    VerificationSessions,
)
from prefect_stripe_identity.models import DEFAULT_STRIPE_VERSION

__all__ = ["AsyncStripeIdentityClient", "StripeIdentityClient"]


class StripeIdentityClient(SyncAPIClient):
    """A typed client of the Stripe Identity API.

    Args:
        api_key: A secret (``sk_…``) or restricted (``rk_…``) key, as `str` or `SecretStr`.
        api_base: Where the API lives; point it at the emulator in tests.
        stripe_version: The ``Stripe-Version`` sent with every request (pinned by default
            to the version whose fields the models follow).
        stripe_account: A connected account id, sent as ``Stripe-Account`` (Connect).
        timeout: Seconds (or an `httpx.Timeout`) before a request counts as failed.
        max_network_retries: How many times a retryable failure is retried.
        http_client: A ready `httpx.Client` (proxies, transports, tests); the caller closes it.
        live_key_hosts: Hosts (``host`` or ``host:port``) besides ``api.stripe.com`` that
            may receive a live key, e.g. an egress proxy. A key that is not a test key is
            sent only over https to ``api.stripe.com:443`` or to one of these; anything
            else raises `ValueError` naming ``api_base`` before any connection.
        rate_limiter: Where every HTTP attempt (retries included) waits for its turn, as a
            read (GET) or a write (POST); see `RateLimiter`. The credentials block passes
            one built on Prefect's global concurrency limits when it names them.
        logger: Where retries (with status, code and request id), rate-limit waits and
            idempotent replays are logged: a `logging.Logger` or `logging.LoggerAdapter`.
            By default the ``prefect_stripe_identity.client`` logger; a client built by the
            credentials block inside a Prefect flow or task run logs to that run's logger,
            so the records show in the run's logs.

    Example:
        ```python
        with StripeIdentityClient(api_key="sk_test_…") as client:
            session = client.verification_sessions.create(type="document")
            for s in client.verification_sessions.list(status="verified").auto_paging_iter():
                print(s.id)
        ```
    """

    def __init__(
        self,
        api_key: str | SecretStr,
        *,
        api_base: str = DEFAULT_API_BASE,
        stripe_version: str = DEFAULT_STRIPE_VERSION,
        stripe_account: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
        http_client: httpx.Client | None = None,
        live_key_hosts: Sequence[str] = (),
        rate_limiter: RateLimiter | None = None,
        logger: ClientLogger | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            api_base=api_base,
            stripe_version=stripe_version,
            stripe_account=stripe_account,
            timeout=timeout,
            max_network_retries=max_network_retries,
            http_client=http_client,
            live_key_hosts=live_key_hosts,
            rate_limiter=rate_limiter,
            logger=logger,
        )
        self.verification_sessions = VerificationSessions(self)
        self.verification_reports = VerificationReports(self)

    def __enter__(self) -> StripeIdentityClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStripeIdentityClient(AsyncAPIClient):
    """The async twin of `StripeIdentityClient`: the same arguments, awaitable calls.

    Example:
        ```python
        async with AsyncStripeIdentityClient(api_key="sk_test_…") as client:
            session = await client.verification_sessions.create(type="document")
            page = await client.verification_sessions.list(status="verified")
            async for s in page.auto_paging_iter():
                print(s.id)
        ```
    """

    def __init__(
        self,
        api_key: str | SecretStr,
        *,
        api_base: str = DEFAULT_API_BASE,
        stripe_version: str = DEFAULT_STRIPE_VERSION,
        stripe_account: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        live_key_hosts: Sequence[str] = (),
        rate_limiter: RateLimiter | None = None,
        logger: ClientLogger | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            api_base=api_base,
            stripe_version=stripe_version,
            stripe_account=stripe_account,
            timeout=timeout,
            max_network_retries=max_network_retries,
            http_client=http_client,
            live_key_hosts=live_key_hosts,
            rate_limiter=rate_limiter,
            logger=logger,
        )
        self.verification_sessions = AsyncVerificationSessions(self)
        self.verification_reports = AsyncVerificationReports(self)

    async def __aenter__(self) -> AsyncStripeIdentityClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
