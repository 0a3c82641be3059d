"""A logging filter that masks Stripe secrets in every log record.

Prefect's own filter hides only Prefect's API key. This one masks Stripe API keys
(``sk_``/``rk_``, test and live), webhook secrets and session client secrets, wherever
they come from: our code, the user's code, or a library echoing a request.

Importing the package configures no logging. The filter goes onto Prefect's loggers and
handlers on first use instead, wherever a Stripe key enters a process through Prefect: a
`StripeIdentityCredentials` block made or loaded (so also every task and flow of the
package, which take one), a client built from one, the webhook receiver's app and the
CLI. Installing is idempotent and cheap, so each of those calls `install_secrets_filter`.
The package's own loggers (`get_logger`) carry the filter from the start.
"""

from __future__ import annotations

import logging

from prefect_stripe_identity._secrets import mask_secrets

__all__ = ["StripeSecretsFilter", "get_logger", "install_secrets_filter"]

# Where records of a Prefect run pass: the run loggers (records are created there, so a
# logger filter sees them) and the handlers of the loggers that ship records to the API,
# the console and files.
_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect_stripe_identity")
_HANDLER_LOGGERS = ("", "prefect")


class StripeSecretsFilter(logging.Filter):
    """Rewrites a record's message with every Stripe secret masked; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        return True


_FILTER = StripeSecretsFilter()


def get_logger(name: str) -> logging.Logger:
    """The package's logger ``name``, masking Stripe secrets in every record it creates.

    A logger's filters see only the records created on that very logger, not those of its
    children, so each package logger carries the filter itself.
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def install_secrets_filter() -> None:
    """Attach the filter to Prefect's run loggers and to every handler that ships records.

    Safe to call many times; call it again after reconfiguring logging. The package calls
    it on first use (see the module's docstring); nothing calls it at import.
    """
    for name in _RUN_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for name in _HANDLER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
