"""``session_ready_hook`` of the crash-recovery run (imported by the killed process).

The first time it is called (right after the session was created) it records the session
id and the pid of the process running the flow (the engine: the one the test must kill),
then hangs, so the test can SIGKILL it at exactly that point. Once the marker exists (the
retried run), it does nothing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prefect.context import FlowRunContext

from prefect_stripe_identity import VerificationSession


def stall_after_create(session: VerificationSession) -> None:
    marker = Path(os.environ["PSI_CRASH_MARKER"])
    if marker.exists():
        return
    context = FlowRunContext.get()
    flow_run = context.flow_run if context else None
    record = {
        "session_id": session.id,
        "flow_run_id": str(flow_run.id) if flow_run else None,
        "pid": os.getpid(),
    }
    # Written aside then renamed: the test never reads half a marker.
    partial = marker.with_suffix(".partial")
    partial.write_text(json.dumps(record))
    os.replace(partial, marker)
    while True:  # until killed
        time.sleep(60)
