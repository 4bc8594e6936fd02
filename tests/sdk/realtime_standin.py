"""A test-side stand-in for Supabase Realtime: Phoenix channels over a real websocket
(the ``websockets`` library) on a local port, with ``postgres_changes`` fed from the
test's real database. The sibling of ``support.postgrest_standin``.

What supabase-py's realtime client (realtime-py 2.34.1) speaks, and so what this serves:

- **Socket:** ``ws://<host>:<port>/realtime/v1/websocket?apikey=<key>&vsn=1.0.0`` (the
  client derives it from the Supabase URL). ``vsn`` 1.0.0 is Phoenix's JSON serializer:
  every frame is one JSON object ``{topic, event, payload, ref, join_ref}``; realtime-py
  sends nothing else (no 2.0.0 arrays, no binary frames), so other versions are refused
  (400). A key that is none of this project's is refused (401), as the gateway does.
- ``heartbeat`` on topic ``phoenix`` → ``phx_reply`` ``{status: ok, response: {}}``.
- ``phx_join`` on ``realtime:<topic>`` with ``{config: {broadcast, presence, private,
  postgres_changes: [{event, schema, table, filter}]}, access_token}`` → ``phx_reply``
  ``{status: ok, response: {postgres_changes: [<each binding> + id]}}``, then a
  ``system`` "Subscribed to PostgreSQL" message (with bindings) and ``presence_state``
  (with presence enabled). The caller is the ``access_token`` (an HS256 JWT of
  ``JWT_SECRET``), or the ``apikey``'s role when the token is absent or itself a key;
  a bad token or a filter other than ``<column>=eq.<value>`` → ``{status: error}``.
- ``access_token`` → recorded, and the channel acts as the new token from then on.
- ``broadcast`` → recorded in ``broadcasts``, relayed to the topic's other channels (and
  to the sender with ``broadcast.self``), acknowledged with ``broadcast.ack``.
- ``presence`` ``track``/``untrack`` → ``phx_reply`` ok and ``presence_diff`` to the
  topic's channels; leaving (or losing the socket) untracks. ``presence_state(topic)``
  is the current state, ``tracks`` every track.
- ``phx_leave`` → ``phx_reply`` ok; a push to a topic not joined → ``unmatched topic``.

**Private channels** (``config.private``), as Realtime Authorization does
(``Realtime.Tenants.Authorization``, ``RealtimeChannel``): a private topic is a channel
apart from the public one of the same name. The join runs Realtime's read check
against the database (``support.supabase.realtime_policies``: probe rows selected as the
caller with ``realtime.topic`` set, rolled back) and is refused without a broadcast or
presence read (``Unauthorized: You do not have permissions to read from this Channel
topic: <topic>``), or when the check itself fails. The write check runs at the first
broadcast or track and is kept for the channel's life (a new ``access_token`` checks
again): a broadcast without write is dropped without a reply (kept in ``dropped``), a
track without write is answered ``{status: error}``; broadcasts and presence reach only
channels that may read them. **Broadcasts from the database** (``realtime.send``: rows
of ``realtime.messages``, which Realtime replicates; here the test schema's trigger
notifies ``realtime_standin`` after commit) go to the joined channels of that topic and
privacy as ``broadcast`` ``{type, event, payload, meta: {id}}``, recorded in
``broadcasts`` too.

``postgres_changes`` of new ``collab.job_events`` rows, read as each subscriber so RLS
decides: ``realtime_changes.ChangesFeed``; they are kept in ``pushed``.

``drop_connections(refuse_for=s)`` aborts every socket (no close frame) and refuses new
handshakes (503) for ``s`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from psycopg import AsyncConnection

from support.postgrest_standin import ANON_KEY, JWT_SECRET, PUBLISHABLE_KEY, SECRET_KEY, SERVICE_ROLE_KEY
from realtime_changes import Binding, ChangesFeed, Message, Refused
from support.supabase import Policies, realtime_policies

SOCKET_PATH = "/realtime/v1/websocket"
KEY_ROLES = {SECRET_KEY: "service_role", SERVICE_ROLE_KEY: "service_role",
             PUBLISHABLE_KEY: "anon", ANON_KEY: "anon"}
ROLES = ("anon", "authenticated", "service_role")


@dataclass(frozen=True)
class Join:
    """A recorded ``phx_join``: the topic (without ``realtime:``), its payload, the
    socket's ``apikey`` and the caller it was accepted as."""

    topic: str
    payload: dict[str, Any]
    apikey: str
    role: str
    claims: dict[str, Any]


@dataclass
class _Channel:
    """One joined topic on one socket."""

    ws: ServerConnection
    topic: str
    role: str
    claims: dict[str, Any]
    config: dict[str, Any]
    bindings: list[Binding]
    presence_key: str
    #: A private channel's read policies (from the join) and write policies (checked
    #: at the first broadcast or track, None until then).
    read: Policies | None = None
    write: Policies | None = None

    @property
    def private(self) -> bool:
        return bool(self.config.get("private"))

    def reads(self, extension: str) -> bool:
        """Whether this channel is sent ``extension`` messages of its topic."""
        if not self.private:
            return True
        assert self.read is not None
        return self.read.broadcast_read if extension == "broadcast" else self.read.presence_read

    def option(self, section: str, name: str) -> bool:
        return bool((self.config.get(section) or {}).get(name))

    async def send(self, event: str, payload: Any, ref: str | None = None) -> None:
        await _send(self.ws, self.topic, event, payload, ref)


class RealtimeStandin:
    """``async with RealtimeStandin(db_url) as rt:`` — Supabase Realtime at ``rt.url``."""

    def __init__(self, db_url: str, *, host: str = "127.0.0.1") -> None:
        self.db_url, self.host = db_url, host
        self.handshakes: list[str] = []
        self.joins: list[Join] = []
        self.access_tokens: list[tuple[str, str]] = []
        self.broadcasts: list[Message] = []
        self.tracks: list[Message] = []
        #: Broadcasts a private channel sent without write permission (Realtime drops them).
        self.dropped: list[Message] = []
        self.refused: list[tuple[str, str]] = []  # (topic, reason) of refused joins
        self._sockets: dict[ServerConnection, dict[str, _Channel]] = {}
        self._presence: dict[str, dict[tuple[ServerConnection, str], dict[str, Any]]] = {}
        self._refs = itertools.count(1)
        self._refuse_until = 0.0
        self._server: Server | None = None
        self._feed = ChangesFeed(db_url, self._subscribers)
        self._relaying = asyncio.Event()
        self._relay: asyncio.Task[None]
        #: The ``postgres_changes`` sent, in order.
        self.pushed = self._feed.pushed

    @property
    def url(self) -> str:
        """The Supabase URL to give supabase-py (``http://host:port``)."""
        assert self._server is not None
        return f"http://{self.host}:{next(iter(self._server.sockets)).getsockname()[1]}"

    async def __aenter__(self) -> RealtimeStandin:
        await self._feed.start()
        self._relay = asyncio.create_task(self._relay_database_broadcasts())
        await asyncio.wait_for(self._relaying.wait(), 10)
        self._server = await serve(self._serve, self.host, 0, process_request=self._handshake)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._relay.cancel()
        await asyncio.gather(self._relay, return_exceptions=True)
        await self._feed.aclose()

    # -- for tests ------------------------------------------------------------------

    async def drop_connections(self, *, refuse_for: float = 0.0) -> int:
        """Abort every socket (no close frame); refuse handshakes for ``refuse_for`` s."""
        self._refuse_until = time.monotonic() + refuse_for
        sockets = list(self._sockets)
        for ws in sockets:
            ws.transport.abort()
        return len(sockets)

    async def inject(self, topic: str, event: str, payload: Any) -> int:
        """Send a frame of the server's making to every channel on ``topic`` (without
        ``realtime:``), as a misbehaving server would; how many got it."""
        channels = self._subscribers(f"realtime:{topic}")
        for channel in channels:
            await channel.send(event, payload)
        return len(channels)

    def presence_state(self, topic: str) -> dict[str, list[dict[str, Any]]]:
        """``{key: [state, ...]}`` tracked on ``topic`` (without ``realtime:``) now,
        without ``phx_ref``."""
        state: dict[str, list[dict[str, Any]]] = {}
        spaces = {**self._presence.get(f"realtime:{topic}", {}), **self._presence.get(f"private:{topic}", {})}
        for (_, key), meta in spaces.items():
            state.setdefault(key, []).append({k: v for k, v in meta.items() if k != "phx_ref"})
        return state

    def joined(self, topic: str) -> int:
        """How many channels are joined to ``topic`` (without ``realtime:``) now."""
        return len(self._subscribers(f"realtime:{topic}"))

    def on(self, topic: str) -> list[Message]:
        """The broadcasts recorded on ``topic`` (without ``realtime:``), in order."""
        return [m for m in self.broadcasts if m.topic == topic]

    # -- the socket ------------------------------------------------------------------

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if url.path != SOCKET_PATH:
            return connection.respond(404, "not found\n")
        if query.get("vsn") != ["1.0.0"]:
            return connection.respond(400, "realtime-py speaks vsn 1.0.0 only\n")
        if query.get("apikey", [""])[0] not in KEY_ROLES:
            return connection.respond(401, '{"message":"Invalid API key"}')
        if time.monotonic() < self._refuse_until:
            return connection.respond(503, "unavailable\n")
        self.handshakes.append(request.path)
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        apikey = parse_qs(urlsplit(ws.request.path).query)["apikey"][0]
        channels = self._sockets[ws] = {}
        try:
            async for frame in ws:
                try:
                    message = json.loads(frame)
                    topic, event = str(message["topic"]), str(message["event"])
                    payload, ref = message.get("payload") or {}, message.get("ref")
                except (ValueError, KeyError, TypeError):
                    continue
                await self._dispatch(ws, apikey, channels, topic, event, payload, ref)
        except ConnectionClosed:
            pass
        finally:
            del self._sockets[ws]
            for channel in list(channels.values()):
                await self._untrack(channel)

    async def _dispatch(self, ws: ServerConnection, apikey: str, channels: dict[str, _Channel],
                        topic: str, event: str, payload: dict[str, Any], ref: str | None) -> None:
        if topic == "phoenix" and event == "heartbeat":
            return await _send(ws, topic, "phx_reply", {"status": "ok", "response": {}}, ref)
        if event == "phx_join":
            try:
                channels[topic] = await self._join(ws, apikey, topic, payload, ref)
            except Refused as refused:
                self.refused.append((_short(topic), str(refused)))
                await _send(ws, topic, "phx_reply", {"status": "error", "response": {"reason": str(refused)}}, ref)
            return
        channel = channels.get(topic)
        if channel is None:
            return await _send(ws, topic, "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}, ref)
        if event == "phx_leave":
            del channels[topic]
            await self._untrack(channel)
            await channel.send("phx_reply", {"status": "ok", "response": {}}, ref)
        elif event == "access_token":
            self.access_tokens.append((_short(topic), str(payload.get("access_token"))))
            with contextlib.suppress(Refused):
                channel.role, channel.claims = _caller(apikey, payload.get("access_token"))
                if channel.private:  # Realtime checks the new token's policies again
                    channel.read, channel.write = await self._policies(channel), None
        elif event == "broadcast":
            await self._broadcast(channel, payload, ref)
        elif event == "presence" and payload.get("event") in ("track", "untrack"):
            tracking = payload["event"] == "track"
            if tracking and not await self._may_write(channel, "presence"):
                return await channel.send("phx_reply", {"status": "error", "response": {}}, ref)
            await self._untrack(channel, payload.get("payload") if tracking else None)
            await channel.send("phx_reply", {"status": "ok", "response": {}}, ref)
        else:
            await channel.send("phx_reply", {"status": "error", "response": {"reason": f"unknown event {event}"}}, ref)

    async def _join(self, ws: ServerConnection, apikey: str, topic: str, payload: dict[str, Any],
                    ref: str | None) -> _Channel:
        if not topic.startswith("realtime:"):
            raise Refused("topic must start with realtime:")
        role, claims = _caller(apikey, payload.get("access_token"))
        config = dict(payload.get("config") or {})
        bindings = [Binding.parse(next(self._refs), spec) for spec in config.get("postgres_changes") or []]
        presence = config.get("presence") or {}
        channel = _Channel(ws, topic, role, claims, config, bindings,
                           str(presence.get("key") or f"key-{next(self._refs)}"))
        if channel.private:
            channel.read = await self._policies(channel)
            if not channel.read.can_join_private:
                raise Refused("Unauthorized: You do not have permissions to read from this Channel "
                              f"topic: {_short(topic)}")
        self.joins.append(Join(_short(topic), payload, apikey, role, claims))
        await channel.send("phx_reply", {"status": "ok", "response": {
            "postgres_changes": [{**b.spec, "id": b.id} for b in bindings]}}, ref)
        if bindings:
            await channel.send("system", {"channel": _short(topic), "extension": "postgres_changes",
                                          "message": "Subscribed to PostgreSQL", "status": "ok"})
        if channel.option("presence", "enabled") and channel.reads("presence"):
            await channel.send("presence_state", _raw_state(self._presence_of(channel).items()))
        return channel

    async def _policies(self, channel: _Channel) -> Policies:
        """Realtime's read and write checks of ``channel``'s topic for its caller; a check
        that fails (no realtime schema, a policy error) refuses, as Realtime does."""
        try:
            return await asyncio.to_thread(realtime_policies, self.db_url, channel.role,
                                           channel.claims, _short(channel.topic))
        except Exception as exc:  # noqa: BLE001 - any failure of the check is a refusal
            raise Refused(f"Unauthorized: You do not have permissions to read from this Channel "
                          f"topic: {_short(channel.topic)} ({type(exc).__name__})") from exc

    async def _may_write(self, channel: _Channel, extension: str) -> bool:
        """Public channels always; private ones by the write check, run once per token."""
        if not channel.private:
            return True
        if channel.write is None:
            channel.write = await self._policies(channel)
        return channel.write.broadcast_write if extension == "broadcast" else channel.write.presence_write

    def _presence_of(self, channel: _Channel) -> dict[tuple[ServerConnection, str], dict[str, Any]]:
        return self._presence.get(_space(channel), {})

    async def _broadcast(self, channel: _Channel, payload: dict[str, Any], ref: str | None) -> None:
        message = Message(_short(channel.topic), str(payload.get("event")),
                          dict(payload.get("payload") or {}), channel.claims)
        if not await self._may_write(channel, "broadcast"):
            self.dropped.append(message)  # no reply, even with ack
            return
        self.broadcasts.append(message)
        for other in self._subscribers(channel.topic, private=channel.private):
            if (other is not channel or channel.option("broadcast", "self")) and other.reads("broadcast"):
                await other.send("broadcast", payload)
        if channel.option("broadcast", "ack"):
            await channel.send("phx_reply", {"status": "ok", "response": {}}, ref)

    async def _untrack(self, channel: _Channel, track: dict[str, Any] | None = None) -> None:
        """Replace (or just remove) ``channel``'s presence; ``presence_diff`` to the topic."""
        topic, slot = channel.topic, (channel.ws, channel.presence_key)
        metas = self._presence.setdefault(_space(channel), {})
        left = metas.pop(slot, None)
        joined = None
        if track is not None:
            joined = metas[slot] = {**track, "phx_ref": f"ref-{next(self._refs)}"}
            self.tracks.append(Message(_short(topic), "track", dict(track), channel.claims))
        if left is None and joined is None:
            return
        diff = {"joins": _raw_state([(slot, joined)] if joined else []),
                "leaves": _raw_state([(slot, left)] if left else [])}
        for other in self._subscribers(topic, private=channel.private):
            if other.reads("presence"):
                await other.send("presence_diff", diff)

    def _subscribers(self, topic: str | None = None, *, private: bool | None = None) -> list[_Channel]:
        """The joined channels (on ``topic``, and of that privacy, when given), over all sockets."""
        return [c for channels in list(self._sockets.values()) for c in channels.values()
                if (topic is None or c.topic == topic) and (private is None or c.private == private)]

    async def _relay_database_broadcasts(self) -> None:
        """Send each committed ``realtime.messages`` broadcast to its topic's channels."""
        async with await AsyncConnection.connect(self.db_url, autocommit=True) as conn, \
                await AsyncConnection.connect(self.db_url, autocommit=True) as reader:
            await conn.execute("listen realtime_standin")
            self._relaying.set()
            async for notify in conn.notifies():
                row = await (await reader.execute(
                    "select topic, event, payload, coalesce(private, false), id::text"
                    " from realtime.messages where id = %s", (notify.payload,))).fetchone()
                if row is None:
                    continue
                topic, event, payload, private, id = row
                self.broadcasts.append(Message(topic, str(event), dict(payload or {}), {"role": "database"}))
                for channel in self._subscribers(f"realtime:{topic}", private=private):
                    if channel.reads("broadcast"):
                        await channel.send("broadcast", {"type": "broadcast", "event": event,
                                                         "payload": payload, "meta": {"id": id}})


def _caller(apikey: str, access_token: Any) -> tuple[str, dict[str, Any]]:
    """The role and claims a join acts as: its JWT, else the socket's key."""
    token = access_token if isinstance(access_token, str) and access_token else None
    if token is None or token in KEY_ROLES:
        role = KEY_ROLES.get(token or apikey)
        if role is None:
            raise Refused("Invalid API key")
        return role, {"role": role}
    try:
        claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.PyJWTError as exc:
        raise Refused(f"Invalid token: {exc}") from exc
    if claims.get("role") not in ROLES:
        raise Refused(f"Invalid role {claims.get('role')!r}")
    return str(claims["role"]), claims


async def _send(ws: ServerConnection, topic: str, event: str, payload: Any, ref: str | None = None) -> None:
    """One vsn 1.0.0 frame; a socket that is gone is not an error here."""
    with contextlib.suppress(ConnectionClosed):
        await ws.send(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref}))


def _raw_state(entries: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Phoenix's presence shape: ``{key: {metas: [meta, ...]}}``."""
    state: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for (_, key), meta in entries:
        state.setdefault(key, {"metas": []})["metas"].append(meta)
    return state


def _short(topic: str) -> str:
    return topic.removeprefix("realtime:")


def _space(channel: _Channel) -> str:
    """Where a channel's presence lives: private and public topics of one name are apart."""
    return f"private:{_short(channel.topic)}" if channel.private else channel.topic


__all__ = ["RealtimeStandin", "Join", "Message", "Refused", "SOCKET_PATH"]
