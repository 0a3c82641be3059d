"""Write the code and docs that follow from the endpoint table (`_endpoints.ENDPOINTS`).

    python scripts/generate.py           # write the files (``make generate``)
    python scripts/generate.py --check   # exit 1, naming the files, if any is stale

It writes `prefect_stripe_identity/_resources.py` (the sync and async resources),
`prefect_stripe_identity/tasks.py` (a task and its async twin per endpoint), and the
marked regions of `prefect_stripe_identity/__init__.py` (the task exports) and
`docs/reference/tasks.md` (the reference entries). Output is formatted with ruff, so the
files are what ``ruff format`` keeps. tests/client/test_endpoints.py runs ``--check``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prefect_stripe_identity import _endpoints  # noqa: E402
from prefect_stripe_identity._endpoints import ENDPOINTS, Endpoint  # noqa: E402

PACKAGE = ROOT / "prefect_stripe_identity"
GENERATED = "Generated from `_endpoints` by scripts/generate.py (``make generate``): do not edit."
BEGIN, END = "generated: tasks (scripts/generate.py)", "end generated: tasks"

# The id prefix of each answer's objects, for the tasks' docstrings.
ID_PREFIX = {"VerificationSession": "vs", "VerificationReport": "vr"}
# Names the annotations may use, and where they come from.
TYPING_NAMES = {
    "Any": "typing",
    "Literal": "typing",
    "Mapping": "collections.abc",
    "Sequence": "collections.abc",
}
MODEL_NAMES = (
    "CreatedFilter",
    "ProvidedDetailsParams",
    "RelatedPersonParams",
    "ReportTypeFilter",
    "SessionOptionsParams",
    "SessionStatusFilter",
    "SessionType",
    "VerificationReport",
    "VerificationSession",
)


def const_name(endpoint: Endpoint) -> str:
    """The name `_endpoints` gives ``endpoint`` (``CREATE_SESSION``)."""
    return next(name for name, value in vars(_endpoints).items() if value is endpoint)


def used(names: Iterable[str], text: str) -> list[str]:
    return sorted(name for name in names if re.search(rf"\b{name}\b", text))


def imports(text: str, extra: dict[str, list[str]]) -> str:
    """The import block of a generated module: what ``text`` uses, and ``extra``."""
    by_module: dict[str, list[str]] = {}
    for name in used(TYPING_NAMES, text):
        by_module.setdefault(TYPING_NAMES[name], []).append(name)
    models = used(MODEL_NAMES, text)
    if models:
        by_module["prefect_stripe_identity.models"] = models
    for module, names in extra.items():
        by_module.setdefault(module, []).extend(names)
    stdlib = [m for m in by_module if not m.startswith(("prefect", "prefect_stripe_identity"))]
    lines = [f"from {m} import {', '.join(sorted(by_module[m]))}" for m in sorted(stdlib)]
    lines.append("")
    lines += [
        f"from {m} import {', '.join(sorted(by_module[m]))}"
        for m in sorted(by_module)
        if m not in stdlib
    ]
    return "\n".join(lines)


# --- the resources -----------------------------------------------------------------------


def resource_class(resource: str, flavour: str) -> str:
    endpoints = [e for e in ENDPOINTS if e.resource == resource]
    words = "".join(part.title() for part in resource.split("_"))
    is_async = flavour == "async"
    name = f"Async{words}" if is_async else words
    base = "AsyncAPIClient" if is_async else "SyncAPIClient"
    doc = (
        f"``client.{resource}`` of the async client."
        if is_async
        else f"``client.{resource}``: {', '.join(e.action for e in endpoints)}."
    )
    body = [
        f"class {name}:",
        f'    """{doc}"""',
        "",
        f"    def __init__(self, client: {base}) -> None:",
        "        self._client = client",
    ]
    for endpoint in endpoints:
        body += ["", *resource_method(endpoint, is_async)]
    lister = next((e for e in endpoints if e.is_list), None)
    if lister is not None:
        page = f"{'AsyncPage' if is_async else 'Page'}[{lister.returns}]"
        aw, df = ("await ", "async def") if is_async else ("", "def")
        body += [
            "",
            f"    {df} _list(self, params: dict[str, Any]) -> {page}:",
            f"        page = {aw}self._client.request(",
            f'            "GET", {const_name(lister)}.path, params, {page}',
            "        )",
            "        return page._bind(self._list, params)",
        ]
    return "\n".join(body)


def resource_method(endpoint: Endpoint, is_async: bool) -> list[str]:
    aw, df = ("await ", "async def") if is_async else ("", "def")
    page = "AsyncPage" if is_async else "Page"
    returns = f"{page}[{endpoint.returns}]" if endpoint.is_list else endpoint.returns
    args = ["self"]
    if endpoint.path_param:
        args.append(f"{endpoint.path_param}: str")
    args.append("*")
    args += [f"{p.name}: {p.annotation} | None = None" for p in endpoint.params]
    post = endpoint.method == "POST"
    if post:
        args.append("idempotency_key: str | None = None")
    values = ", ".join(f'"{p.name}": {p.name}' for p in endpoint.params)
    summary = endpoint.summary + ("\n" if "\n" in endpoint.summary else "")
    lines = [
        f"    {df} {endpoint.action}({', '.join(args)},) -> {returns}:",
        f'        """{indent_doc(summary, 8)}"""',
    ]
    build = f"build_params({const_name(endpoint)}, {{{values}}})"
    if endpoint.is_list:
        return [*lines, f"        params = {build}", f"        return {aw}self._list(params)"]
    path_args = const_name(endpoint) + (f", {endpoint.path_param}" if endpoint.path_param else "")
    key = ", idempotency_key=idempotency_key" if post else ""
    return [
        *lines,
        # The id first: a bad id is named before any parameter.
        f"        path = endpoint_path({path_args})",
        f"        params = {build}",
        f"        return {aw}self._client.request(",
        f'            "{endpoint.method}", path, params, {endpoint.returns}{key}',
        "        )",
    ]


def indent_doc(text: str, spaces: int) -> str:
    """``text`` as a docstring's body at ``spaces`` (a trailing newline closes a long one)."""
    pad = " " * spaces
    return "\n".join(pad + line if i else line for i, line in enumerate(text.split("\n")))


def resources_module() -> str:
    classes = [
        resource_class(resource, flavour)
        for resource in dict.fromkeys(e.resource for e in ENDPOINTS)
        for flavour in ("sync", "async")
    ]
    names = sorted(re.findall(r"^class (\w+)", "\n".join(classes), flags=re.MULTILINE))
    code = "\n\n\n".join(classes)
    header = imports(
        code,
        {
            "prefect_stripe_identity._endpoints": used([const_name(e) for e in ENDPOINTS], code),
            "typing": ["TYPE_CHECKING"],
            "prefect_stripe_identity._pagination": ["AsyncPage", "Page"],
            "prefect_stripe_identity._params": ["build_params", "endpoint_path"],
        },
    )
    return f'''"""The Identity resources: one method per endpoint of `_endpoints`, sync and async.

Validation lives in `_params`, sending and retrying in `_base_client`.
{GENERATED}
"""

from __future__ import annotations

{header}

if TYPE_CHECKING:
    from prefect_stripe_identity._base_client import AsyncAPIClient, SyncAPIClient

__all__ = {names!r}


{code}
'''


# --- the tasks ---------------------------------------------------------------------------


def task_params(endpoint: Endpoint) -> list[str]:
    params: list[str] = ["credentials: StripeIdentityCredentials"]
    if endpoint.path_param:
        params.append(f"{endpoint.path_param}_id: str")
    for p in endpoint.params:
        if not p.in_task:
            continue
        if endpoint.is_list and p.name == "expand":
            params.append("max_results: int = 100")
        params.append(f"{p.name}: {p.task_annotation or p.annotation} | None = None")
    if endpoint.method == "POST":
        params.append("idempotency_key: str | None = None")
    return params


def task_doc(endpoint: Endpoint) -> str:
    args = ["credentials: The Stripe Identity credentials block."]
    if endpoint.path_param:
        prefix = ID_PREFIX[endpoint.returns]
        args.append(f"{endpoint.path_param}_id: The {endpoint.path_param} id ({prefix}_…).")
    for p in endpoint.params:
        if not p.in_task:
            continue
        if endpoint.is_list and p.name == "expand":
            noun = endpoint.resource.split("_")[-1]
            args.append(f"max_results: The most {noun} to return.")
        args.append(f"{p.name}: {p.doc}")
    if endpoint.method == "POST":
        args.append("idempotency_key: A business key; by default one derived from the run.")
    dispatch = (
        f"In an async flow or task it runs `a{endpoint.task_name}`\n"
        "and returns its coroutine, to await (``_sync=True`` runs it sync)."
    )
    lines = [endpoint.task.summary, "", dispatch, "", "Args:", *(f"    {a}" for a in args)]
    if endpoint.task.returns:
        lines += ["", "Returns:", f"    {endpoint.task.returns}"]
    return indent_doc("\n".join(lines), 4) + "\n    "


def task_function(endpoint: Endpoint, is_async: bool) -> str:
    aw, df, cm = ("await ", "async def", "async with") if is_async else ("", "def", "with")
    name = ("a" if is_async else "") + endpoint.task_name
    returns = f"list[{endpoint.returns}]" if endpoint.is_list else endpoint.returns
    doc = (
        f"Async twin of `{endpoint.task_name}` (same arguments)."
        if is_async
        else task_doc(endpoint)
    )
    body: list[str] = []
    call_args: list[str] = []
    if endpoint.path_param:
        object_id = f"{endpoint.path_param}_id"
        body.append(f'check_id({object_id}, "{object_id}")')
        call_args.append(object_id)
    if endpoint.is_list:
        body.append("limit = min(check_max_results(max_results), MAX_PAGE_SIZE)")
    names = [p.name for p in endpoint.params if p.in_task]
    body.append("params: dict[str, Any] = {" + ", ".join(f'"{n}": {n}' for n in names) + "}")
    call_args.append("**params")
    if endpoint.method == "POST":
        keyed = (
            f'{{"{endpoint.path_param}": {object_id}, **params}}'
            if endpoint.path_param
            else "params"
        )
        body.append(f'key = idempotency_key_for("{endpoint.action}", idempotency_key, {keyed})')
        call_args.append("idempotency_key=key")
    if endpoint.is_list:
        call_args.append("limit=limit")
    client = "aclient_of" if is_async else "client_of"
    call = f"{aw}client.{endpoint.resource}.{endpoint.action}({', '.join(call_args)})"
    body.append(f"{cm} {client}(credentials) as client:")
    if endpoint.is_list:
        body.append(f"    page = {call}")
        first = (
            "await afirst(page.auto_paging_iter(), max_results)"
            if is_async
            else "list(islice(page.auto_paging_iter(), max_results))"
        )
        body.append(f"    return {first}")
    else:
        body.append(f"    return {call}")
    # The sync task runs its async twin (defined before it) in async contexts.
    decorator = (
        f"@stripe_task({const_name(endpoint)})"
        if is_async
        else f"@stripe_sync_task({const_name(endpoint)}, a{endpoint.task_name})"
    )
    return "\n".join(
        [
            decorator,
            f"{df} {name}({', '.join(task_params(endpoint))},) -> {returns}:",
            f'    """{doc}"""',
            *(f"    {line}" for line in body),
        ]
    )


def task_names() -> list[str]:
    return sorted(prefix + e.task_name for e in ENDPOINTS for prefix in ("", "a"))


TASKS_DOC = '''"""Prefect tasks for every Stripe Identity endpoint, with async twins prefixed ``a``.

Every task takes the `StripeIdentityCredentials` block first and returns the typed
models. What they share (see `_task_support`):

* POSTs (create, update, cancel, redact) carry an idempotency key derived from the flow
  run, the task and the call's position in the run, so task *and* flow retries never
  repeat a side effect; pass ``idempotency_key`` to use a business key instead.
* ``retries=3`` with growing delays, only for failures Stripe calls retryable (on top of
  the client's own quick retries), and only once for a connection that could not be made;
  a 400/401/403/404 fails at once with the typed error and its request id. Change it as
  usual: ``create_verification_session.with_options(retries=0)``. The worst-case number
  of HTTP attempts and time of one task call are in `_policy`.
* Persisted results hold no secret and no personal data (`masking_json_serializer`), and
  cache keys never hash the API key, nor collide across credentials.
* Called in an async context (an async flow or task, or a running event loop outside any
  run), a sync task runs its async twin and returns the twin's coroutine, to await, as
  Prefect's own ``async_dispatch`` does; ``_sync=True`` forces the sync task,
  ``_sync=False`` the twin (`_task_support.AsyncDispatchingTask`).

'''


def tasks_module() -> str:
    functions = [task_function(e, is_async) for e in ENDPOINTS for is_async in (True, False)]
    code = "\n\n\n".join(functions)
    header = imports(
        code,
        {
            "itertools": ["islice"],
            "prefect_stripe_identity._endpoints": used([const_name(e) for e in ENDPOINTS], code),
            "prefect_stripe_identity._params": ["check_id"],
            "prefect_stripe_identity._task_support": used(
                [
                    "MAX_PAGE_SIZE",
                    "aclient_of",
                    "afirst",
                    "check_max_results",
                    "client_of",
                    "idempotency_key_for",
                    "stripe_sync_task",
                    "stripe_task",
                ],
                code,
            ),
            "prefect_stripe_identity.credentials": ["StripeIdentityCredentials"],
        },
    )
    return (
        TASKS_DOC
        + GENERATED
        + '\n"""\n\nfrom __future__ import annotations\n\n'
        + header
        + f"\n\n__all__ = {task_names()!r}\n\n\n"
        + code
        + "\n"
    )


# --- the marked regions ------------------------------------------------------------------


def init_regions(text: str) -> str:
    names = task_names()
    replacements = {
        "imports": "    from prefect_stripe_identity.tasks import (\n"
        + "".join(f"        {n},\n" for n in names)
        + "    )\n",
        "all": "__all__ += [\n" + "".join(f'    "{n}",\n' for n in names) + "]\n",
        "exports": '    "prefect_stripe_identity.tasks": (\n'
        + "".join(f'        "{n}",\n' for n in names)
        + "    ),\n",
    }
    for region, content in replacements.items():
        text = replace_region(text, f"# {BEGIN}: {region}", f"# {END}: {region}", content)
    return text


def reference_region(text: str) -> str:
    entries = "".join(f"::: prefect_stripe_identity.{e.task_name}\n" for e in ENDPOINTS)
    return replace_region(text, f"<!-- {BEGIN} -->", f"<!-- {END} -->", entries)


def replace_region(text: str, begin: str, end: str, content: str) -> str:
    pattern = re.compile(
        rf"(^[ \t]*{re.escape(begin)}\n).*?(^[ \t]*{re.escape(end)}$)", re.S | re.M
    )
    if not pattern.search(text):
        raise SystemExit(f"missing the region markers {begin!r} … {end!r}")
    return pattern.sub(lambda m: m.group(1) + content + m.group(2), text, count=1)


# --- writing -----------------------------------------------------------------------------


def ruff_format(code: str, path: Path) -> str:
    """``code`` with its imports sorted and formatted as ``ruff`` keeps them."""
    local = Path(sys.executable).with_name("ruff")
    ruff = str(local) if local.exists() else "ruff"
    stdin = ["--stdin-filename", str(path), "-"]
    for command in (
        [ruff, "check", "--select", "I", "--fix-only", *stdin],
        [ruff, "format", *stdin],
    ):
        # Fixed commands, on our own generated text.
        done = subprocess.run(  # noqa: S603
            command, input=code, capture_output=True, text=True, check=True, cwd=ROOT
        )
        code = done.stdout
    return code


def outputs() -> dict[Path, Callable[[str], str]]:
    """Each generated file and how it is made from its current text."""
    return {
        PACKAGE / "_resources.py": lambda _: resources_module(),
        PACKAGE / "tasks.py": lambda _: tasks_module(),
        PACKAGE / "__init__.py": init_regions,
        ROOT / "docs" / "reference" / "tasks.md": reference_region,
    }


def generate() -> dict[Path, str]:
    """The new text of every generated file."""
    texts = {}
    for path, make in outputs().items():
        text = make(path.read_text())
        texts[path] = ruff_format(text, path) if path.suffix == ".py" else text
    return texts


def main(argv: list[str]) -> int:
    stale = [path for path, text in generate().items() if path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `make generate`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in generate().items():
        if path in stale:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
