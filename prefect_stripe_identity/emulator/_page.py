"""The hosted test page a session's ``url`` opens, like Stripe's test-mode verification page.

It shows the session (id, type, status) and lets a person choose the outcome: verify, or
fail with a ``last_error`` code. Nothing secret is shown; the single-use token only travels
back in the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from importlib import resources
from string import Template

from prefect_stripe_identity.emulator._records import JSONValue
from prefect_stripe_identity.emulator._validation import LAST_ERROR_CODES


def _template() -> Template:
    text = (
        resources.files("prefect_stripe_identity.emulator")
        .joinpath("templates/verify.html")
        .read_text(encoding="utf-8")
    )
    return Template(text)


def render(title: str, content: str) -> str:
    """The page skeleton around ``content`` (already escaped HTML)."""
    return _template().substitute(title=escape(title), content=content)


def verify_page(session: Mapping[str, JSONValue], token: str) -> str:
    """The page with the outcome form (``session``: the wire object)."""
    options = "\n".join(
        f'<option value="{escape(code)}">{escape(code)}</option>' for code in LAST_ERROR_CODES
    )
    action = f"/_emulator/verify/{escape(str(session['id']))}"
    content = f"""
<h1>Verify your identity</h1>
<dl>
  <dt>Session</dt><dd><code>{escape(str(session["id"]))}</code></dd>
  <dt>Type</dt><dd>{escape(str(session["type"]))}</dd>
  <dt>Status</dt><dd id="status">{escape(str(session["status"]))}</dd>
</dl>
<form method="post" action="{action}">
  <input type="hidden" name="token" value="{escape(token)}">
  <fieldset>
    <legend>Succeed</legend>
    <button class="verify" type="submit" name="outcome" value="verified">Verify</button>
  </fieldset>
  <fieldset>
    <legend>Fail</legend>
    <label>Reason <select name="error_code">{options}</select></label>
    <button class="fail" type="submit" name="outcome" value="unverified">Fail</button>
  </fieldset>
</form>"""
    return render("Verify your identity (test mode)", content)


def done_page(session: Mapping[str, JSONValue]) -> str:
    """Shown after a submission when the session has no ``return_url``."""
    content = f"""
<h1>Thanks, your verification was submitted</h1>
<dl>
  <dt>Session</dt><dd><code>{escape(str(session["id"]))}</code></dd>
  <dt>Status</dt><dd id="status">{escape(str(session["status"]))}</dd>
</dl>
<p>You can close this page.</p>"""
    return render("Verification submitted (test mode)", content)


def not_found_page() -> str:
    """For an unknown session, or a link that is invalid or already used."""
    content = """
<h1>This link is invalid or has expired</h1>
<p>Verification links are single-use. Ask for a new one.</p>"""
    return render("Link not valid (test mode)", content)
