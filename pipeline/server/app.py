"""The insights server's routes (SPEC §7 and §8), over the warehouse's committed state and nothing else.

Every answer comes from one committed state (``pipeline.commits``). The newest is held in memory
(``pipeline.server.held``): a document is slices of rows rendered once per commit, the same bytes
``insights export`` writes (any range is a slice: SPEC §3), and the lifecycle figures of any
projects a few vector operations over the ``flag_lifecycle`` table a run published. Nothing is
computed from the lake: what the committed state does not hold (a warehouse half built, a lifecycle
table no run published) is a 503 that says what to run. An answer is kept per (route, parameters,
state), so a repeated request costs a lookup, and a gzipped body is made once. The ETag names the
state: the warehouse's commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote

import orjson
from cachetools import LRUCache
from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request, cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline import calendar, commits, dashboard, document, job, trends
from pipeline.server.body import Body, Piece
from pipeline.server.flag_list import FORMATS, FlagQuery, rendered
from pipeline.server.flag_list import as_of as flag_list_as_of
from pipeline.server.held import Held, load_held
from pipeline.server.http import accepts_gzip, none_match, shown
from pipeline.server.metrics import PipelineCollector, RequestMetrics
from pipeline.server.tokens import Sessions, Tokens
from pipeline.warehouse import Committed, Warehouse

log = logging.getLogger(__name__)

OPEN = ("/health", "/ready", "/", "/login", "/logout", "/assets/vega.js")
"""Routes that need no token: health, readiness, and the dashboard's way in (``/`` signs a person in)."""
SESSION_COOKIE = "insights_session"
PAGE_HEADERS = {
    # nothing on the page comes from anywhere but this server (Vega compiles its expressions: eval)
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' blob:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}
LONGEST_RANGE_DAYS = 3653
"""Ten years: a longer range is refused."""
KEPT_ANSWERS = 64
GZIP_FROM_BYTES = 1024
SIGN_IN_BYTES = 4096
"""The most a sign-in form may be: a token and a view are a few hundred bytes; past it, 413."""
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="Unleash insights"'}


class BadRequest(ValueError):
    """A request the server refuses as Unleash would: 400, in Unleash's error shape."""


class NotReady(RuntimeError):
    """No committed warehouse to answer from: 503. Its message says why without naming a path (``/ready`` is open)."""


NOTHING_COMMITTED = "no build has committed a warehouse yet: run `insights run`"


@dataclass
class Answer:
    """One answer's JSON body, its ETag and headers; its bytes, plain or gzipped, made once each when first asked for."""

    body: Body
    etag: str
    headers: dict[str, str]
    made: dict[str, bytes] = field(default_factory=dict, repr=False)

    def encoded(self, gzipped: bool) -> bytes:
        coding = "gzip" if gzipped else "identity"
        if coding not in self.made:
            self.made[coding] = self.body.gzipped() if gzipped else self.body.text()
        return self.made[coding]


class Reader:
    """The data directory as the server reads it: each answer from one committed state, kept per state.

    The newest committed state is held in memory (``held.Held``), loaded once per commit on a thread
    of its own: requests meanwhile are answered from the state held before, and only the first
    request of a new server waits for a load.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.warehouse = Warehouse(self.data_dir)
        self._committed: Committed | None = None
        self._answers: LRUCache[tuple, Answer] = LRUCache(KEPT_ANSWERS)
        self._guard = threading.Lock()
        self._held: Held | None = None
        self._loading = threading.Lock()
        self._loader: threading.Thread | None = None
        self._unloadable: int | None = None

    def answer(self, route: str, parameters: tuple, from_held: Callable[[Held], tuple[Body, dict[str, str]]],
               if_none_match: str | None = None) -> tuple[str, Answer | None]:
        """The ETag of the held state, and the answer for a route's parameters (None when
        ``if_none_match`` names that state already): ``from_held`` gives its JSON body from the held
        state, or raises ``NotReady`` where that state cannot."""
        held = self.held()
        etag = self._etag_of(held.version)
        if none_match(if_none_match, etag):
            return etag, None
        key = (route, parameters, etag)
        with self._guard:
            answer = self._answers.get(key)
        if answer is None:
            try:
                body, headers = from_held(held)
            except job.NotBuilt as error:
                raise NotReady(str(error)) from None
            answer = Answer(body, etag, headers)
            with self._guard:
                self._answers[key] = answer
        return etag, answer

    def held(self) -> Held:
        """The newest state loaded; a newer commit starts loading in the background. ``NotReady`` where
        nothing is committed, or the first load fails."""
        held = self._held
        if held is None:
            with self._loading:
                if self._held is None:
                    self._held = self._load()
            return self._held
        try:
            state = commits.read_state(self.data_dir)
        except commits.WarehouseUnreadable:
            return held  # the state held is whole; the next commit is loaded when it comes
        if state is not None and not state.publishing and state.version not in (held.version, self._unloadable):
            self.start_loading()
        return held

    def held_if_any(self) -> Held | None:
        """``held``, or None where no state can be loaded (nothing committed, a torn warehouse)."""
        try:
            return self.held()
        except (NotReady, document.InvalidDocument):
            return None

    def start_loading(self) -> None:
        """Load the newest committed state on a thread of its own, unless a load is under way."""
        with self._guard:
            if self._loader is None or not self._loader.is_alive():
                self._loader = threading.Thread(target=self._load_newer, name="insights-load", daemon=True)
                self._loader.start()

    def _load(self) -> Held:
        try:
            loaded = load_held(self.data_dir)
        except commits.WarehouseUnreadable as error:
            raise NotReady(str(error)) from None
        if loaded is None:
            raise NotReady(NOTHING_COMMITTED)
        return loaded

    def _load_newer(self) -> None:
        with self._loading:
            try:
                self._held = self._load()
            except NotReady:
                pass  # nothing to load yet: a request says so
            except Exception as error:  # noqa: BLE001 - the state held before keeps answering
                state = commits.read_state(self.data_dir)
                self._unloadable = state.version if state else None
                log.error("commit %s of the warehouse could not be loaded (%s: %s): the state held before answers",
                          self._unloadable, type(error).__name__, error)

    @contextmanager
    def reading(self) -> Iterator[commits.CommitState]:
        """The commit lock held shared, with the committed state; ``NotReady`` where there is none to read."""
        try:
            with commits.reading(self.data_dir) as state:
                if state is None:
                    raise NotReady(NOTHING_COMMITTED)
                yield state
        except commits.WarehouseUnreadable as error:
            raise NotReady(str(error)) from None

    @staticmethod
    def _etag_of(version: int) -> str:
        return f'W/"{version}"'

    def committed(self) -> Committed | None:
        """The committed state now, or None where nothing is committed (or the warehouse is torn)."""
        try:
            with commits.reading(self.data_dir) as state:
                return self.committed_at(state.version) if state else None
        except commits.WarehouseUnreadable:
            return None

    def committed_at(self, version: int) -> Committed:
        """The committed state numbered ``version``; call it holding the commit lock (``commits.reading``)."""
        current = self._committed
        if current is None or current.version != version:
            current = self._committed = self.warehouse.committed(version)
        return current


def create_app(data_dir: Path, tokens: Tokens, today: Callable[[], dt.date] = calendar.today,
               trusted_proxies: list[str] = ()) -> ASGIApp:
    """The insights server over one data directory; ``today`` gives the default range's end (UTC).

    ``trusted_proxies``: addresses whose ``X-Forwarded-Proto`` and ``X-Forwarded-For`` are believed
    (a TLS proxy's: the sign-in cookie is then Secure); nobody else's are."""
    reader = Reader(data_dir)
    reader.start_loading()  # a first request finds the state loaded, or waits for the load under way
    sessions = Sessions()
    disable_created_metrics()  # no *_created series: they say when the process started counting, nothing more
    registry = CollectorRegistry()
    registry.register(PipelineCollector(data_dir, reader.committed, reader.held_if_any))
    contract = document.contract_text().encode()

    def insights(request: Request) -> Response:
        first, last = _range(request, today())

        def covers(committed: Committed) -> dict[str, str]:
            covered = job.document_days(first, last, committed)
            return {"Insights-Covers": f"{covered[0].isoformat()}/{covered[1].isoformat()}" if covered[0] else "none"}

        def from_held(held: Held) -> tuple[Body, dict[str, str]]:
            return held.document(first, last), covers(held.committed)

        return _respond(request, reader.answer("insights", (first, last), from_held, request.headers.get("if-none-match")))

    def lifecycle(request: Request) -> Response:
        projects = tuple(sorted({p.strip() for p in request.query_params.get("projects", "").split(",")} - {"", "*"}))

        def as_of(committed: Committed) -> dict[str, str]:
            if committed.last_day is None:
                raise NotReady("the warehouse holds no partition yet: run `insights run`")
            return {"Insights-As-Of": committed.last_day.isoformat()}

        def from_held(held: Held) -> tuple[Body, dict[str, str]]:
            headers = as_of(held.committed)
            if held.lifecycle is None:
                raise NotReady("no run has published the lifecycle figures as of the warehouse's last day: "
                               "run `insights run`")
            figures = held.lifecycle.figures(projects)
            document.validate(figures, "lifecycleTrendsSchema")
            return Body([Piece(orjson.dumps(figures))]), headers

        return _respond(request, reader.answer("lifecycle", projects, from_held, request.headers.get("if-none-match")))

    def flag_list(request: Request) -> Response:
        query = FlagQuery(_listed(request, "project"), _listed(request, "reason", trends.CLEANUP_REASONS),
                          _yes_or_no(request, "candidates"))
        form = _format(request)

        def from_held(held: Held) -> tuple[Body, dict[str, str]]:
            if held.flags is None:
                raise NotReady("no run has written the flags table yet: run `insights run`")
            day = flag_list_as_of(held.flags)
            return (Body([Piece(rendered(query.chosen(held.flags), form, day))]),
                    {"Insights-As-Of": day} if day else {})

        return _respond(request, reader.answer("flags", (query, form), from_held, request.headers.get("if-none-match")),
                        FORMATS[form], "Accept-Encoding, Accept")

    def health(_: Request) -> Response:
        return JSONResponse({"health": "GOOD"})

    def ready(_: Request) -> Response:
        with reader.reading():
            return JSONResponse({"health": "GOOD"})

    def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    def openapi(_: Request) -> Response:
        return Response(contract, media_type="application/yaml")

    def page(request: Request) -> Response:
        if not _signed_in(request, tokens, sessions):
            return HTMLResponse(dashboard.signin_page(), headers=PAGE_HEADERS)
        with reader.reading() as state:  # the page's provenance and flags table from one commit
            page = dashboard.served_page(data_dir, reader.committed_at(state.version), today())
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def login(request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            return HTMLResponse(dashboard.signin_page(), headers=PAGE_HEADERS)
        try:
            body = await _bounded_body(request, SIGN_IN_BYTES)
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is there to read an answer; nginx's code for it
        form = parse_qs(body.decode("utf-8", "replace"))
        if not tokens.admit((form.get("token") or [""])[0]):
            return HTMLResponse(dashboard.signin_page("That is not one of this server's tokens."), status_code=401,
                                headers={**PAGE_HEADERS, **CHALLENGE})
        view = (form.get("view") or [""])[0]
        answer = RedirectResponse("./" + (f"#{quote(view, safe='=&,-')}" if view else ""), status_code=303)
        secure = request.url.scheme == "https"  # directly, or as a trusted proxy says (X-Forwarded-Proto)
        answer.set_cookie(SESSION_COOKIE, sessions.open(), max_age=Sessions.LIFETIME_SECONDS, httponly=True,
                          samesite="strict", secure=secure, path="/")
        return answer

    def logout(request: Request) -> Response:
        sessions.close(_cookie(request.scope, SESSION_COOKIE))
        answer = RedirectResponse("./", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    def vega(_: Request) -> Response:
        return Response(dashboard.vega_script(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    routes = [
        Route("/api/admin/insights", insights),
        Route("/api/admin/insights/lifecycle", lifecycle),
        Route("/api/insights/flags", flag_list),
        Route("/health", health),
        Route("/ready", ready),
        Route("/metrics", metrics),
        Route("/openapi.yaml", openapi),
        Route("/", page),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/assets/vega.js", vega),
    ]
    handlers = {
        BadRequest: lambda _, error: _error(400, "BadDataError", str(error)),
        TooLarge: lambda _, error: _error(413, "ContentTooLarge", str(error)),
        NotReady: lambda _, error: _error(503, "ServiceUnavailable", str(error)),
        404: lambda request, _: _error(404, "NotFoundError", "The path you were looking for is not available "
                                       "(the routes are in /openapi.yaml)."),
        405: lambda request, error: _error(405, "MethodNotAllowed", f"{shown(request.method)} is not allowed here: use "
                                           f"{error.headers['Allow']}", error.headers),
        Exception: _server_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    door = Door(app, tokens, sessions, RequestMetrics(registry), {route.path for route in routes})
    if trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        return ProxyHeadersMiddleware(door, list(trusted_proxies))
    return door


class TooLarge(ValueError):
    """A request body past its route's limit: 413."""


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request's body, read as it comes; ``TooLarge`` as soon as it passes ``limit`` bytes (or says it will)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"a body of at most {limit} bytes is accepted here")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"a body of at most {limit} bytes is accepted here")
    return bytes(body)


def _server_error(request: Request, error: Exception) -> Response:
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(error).__name__, error,
              exc_info=log.isEnabledFor(logging.DEBUG))
    return _error(500, "InternalError", "the server failed to answer; its log says why")


class Door:
    """In front of every route: the credentials check (a token, or a signed-in person's session), and
    each request's metrics and log line.

    A log line names the method, the route (the path of a known route; any other path is not
    written, for it could hold anything), the status and the time taken: never a header, a
    cookie, a token or a parameter.
    """

    def __init__(self, app: ASGIApp, tokens: Tokens, sessions: Sessions, metrics: RequestMetrics, routes: set[str]):
        self.app, self.tokens, self.sessions, self.metrics, self.routes = app, tokens, sessions, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, sent = time.perf_counter(), {}

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            await send(message)

        path = scope["path"]
        try:
            if path in OPEN or self.tokens.admit(_header(scope, b"authorization")) or \
                    self.sessions.admit(_cookie(scope, SESSION_COOKIE)):
                try:
                    await self.app(scope, receive, sending)
                except Exception:  # noqa: BLE001 - answered (500, Unleash's shape) and logged in one line already
                    if "status" not in sent:
                        raise
            else:
                refusal = _error(401, "AuthenticationRequired", "send one of the server's tokens as the Authorization "
                                 "header (`Authorization: <token>` or `Authorization: Bearer <token>`)", CHALLENGE)
                await refusal(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - began
            status = sent.get("status", 500)
            route = path if path in self.routes else "other"
            self.metrics.observe(route, status, seconds)
            log.info("%s %s %d %.1f ms", scope["method"], route, status, seconds * 1000)


def _range(request: Request, today: dt.date) -> tuple[dt.date, dt.date]:
    """The range a request asks for: ``from`` and ``to``, an empty or absent one meaning its default."""
    asked = {}
    for name in ("from", "to"):
        value = request.query_params.get(name)
        try:
            asked[name] = calendar.parse_day(value) if value else None
        except calendar.CalendarError as error:
            raise BadRequest(f"{error} (in {name})" if value == shown(value) else
                             f"{shown(value)!r} is not a day: write it as YYYY-MM-DD (in {name})") from None
    default_first, last = calendar.default_range(asked["to"] or today)
    first = asked["from"] or default_first
    if first > last:
        raise BadRequest(f"from {first.isoformat()} is after to {last.isoformat()}: give from <= to")
    if (last - first).days > LONGEST_RANGE_DAYS:
        raise BadRequest(f"from {first.isoformat()} to {last.isoformat()} is over ten years: ask for less")
    return first, last


def _respond(request: Request, answered: tuple[str, Answer | None], media_type: str = "application/json",
             vary: str = "Accept-Encoding") -> Response:
    etag, answer = answered
    if answer is None:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache", "Vary": vary})
    headers = {"ETag": answer.etag, "Cache-Control": "no-cache", "Vary": vary, **answer.headers}
    if len(answer.body) >= GZIP_FROM_BYTES and accepts_gzip(request.headers.get("accept-encoding")):
        return Response(answer.encoded(gzipped=True), media_type=media_type,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(answer.encoded(gzipped=False), media_type=media_type, headers=headers)


def _listed(request: Request, name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A comma-separated parameter's values, sorted, without blanks (none: absent or empty);
    ``BadRequest`` for a value not ``allowed``."""
    values = tuple(sorted({v.strip() for v in request.query_params.get(name, "").split(",")} - {""}))
    unknown = [v for v in values if allowed is not None and v not in allowed]
    if unknown:
        raise BadRequest(f"{shown(unknown[0])!r} is not a {name}: give one or more of {', '.join(allowed)} (in {name})")
    return values


def _yes_or_no(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "").strip().lower()
    if value not in ("", "true", "false"):
        raise BadRequest(f"{shown(value)!r} is not true or false (in {name})")
    return value == "true"


def _format(request: Request) -> str:
    """The format a request asks for: ``format=``, else ``text/csv`` in its Accept header, else JSON."""
    asked = request.query_params.get("format", "").strip().lower()
    if asked and asked not in FORMATS:
        raise BadRequest(f"{shown(asked)!r} is not a format: give json or csv (in format)")
    return asked or ("csv" if "text/csv" in request.headers.get("accept", "").lower() else "json")


def _error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"name": name, "message": message}, status_code=status, headers=headers)


def _signed_in(request: Request, tokens: Tokens, sessions: Sessions) -> bool:
    return tokens.admit(request.headers.get("authorization")) or sessions.admit(_cookie(request.scope, SESSION_COOKIE))


def _cookie(scope: Scope, name: str) -> str | None:
    """A cookie's value, parsed as browsers send cookies (Starlette's parser: one for the page and the API)."""
    header = _header(scope, b"cookie")
    return cookie_parser(header).get(name) if header else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
