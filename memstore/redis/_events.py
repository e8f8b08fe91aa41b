"""Change events of the Redis backend, from every client of a namespace, in any process.

Every write script publishes its event on the namespace's pub/sub channel from inside
the script (``_scripts.py``), so the message is atomic with the change and ordered with
it. An :class:`EventHub` (one per storage object, shared by both faces) holds that
storage's subscribers. The first :meth:`~EventHub.subscribe` opens a dedicated pub/sub
connection (a ``glide_sync`` client, whatever the face and event loop: it needs no
loop) and starts one delivery thread; the last unsubscribe, or ``close()``, stops both.

Glide's own thread only queues each message; the delivery thread decodes it and calls
the subscribers one after the other, in the order the server committed the changes. A
subscriber that raises is logged and skipped, like on the memory backend.

Delivery is at most once: Redis pub/sub keeps no backlog, so the messages published
while the connection is down (glide reconnects and subscribes again by itself) are lost.
Each message carries the namespace's event number; when one arrives that does not
follow the last one delivered, the hub first delivers a ``"resync"`` event: some changes
were missed and whoever mirrors the storage (the notebook browser) re-reads it. An idle
listener also compares the namespace's event counter with the last number delivered, so
changes lost while the connection was down are noticed without waiting for another one.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from memstore._ops import closed_error
from memstore.redis._config import RedisConfig
from memstore.types import EventKind, StorageEvent, StoredFile

__all__ = ["EventHub", "decode"]

logger = logging.getLogger("memstore")

Subscriber = Callable[[StorageEvent], None]

# What a script may publish ("restore": a script that replaces the whole namespace at once).
_KINDS: frozenset[str] = frozenset({"put", "delete", "copy", "move", "delete_prefix", "clear", "restore"})
_MARK = "mark"  # the kind of close()'s own marker message: never a change, never delivered
_STOP = object()  # tells a delivery thread to end
_POLL = 1.0  # seconds without a message after which the delivery thread checks for a gap
_UTC = timezone.utc


def decode(message: bytes) -> tuple[int, StorageEvent | str]:
    """A published message as ``(event number, event)``; a marker as ``(0, its token)``.

    Raises:
        ValueError: If ``message`` is not one of memstore's event messages.
    """
    seq, kind, key, size, etag, ctype, mt, meta, source, count = json.loads(message)
    if kind == _MARK:
        return 0, str(key)
    if kind not in _KINDS or type(seq) is not int:
        raise ValueError(f"not a memstore event: {message[:80]!r}")
    file = None
    if size != "":
        micros = int(mt)
        modified = datetime.fromtimestamp(micros // 1_000_000, _UTC).replace(microsecond=micros % 1_000_000)
        file = StoredFile(key, int(size), ctype, etag, modified, json.loads(meta) if meta else {})
    event_kind: EventKind = kind
    return seq, StorageEvent(
        event_kind, key or None, file, source or None, None if count == -1 else int(count)
    )


class _Session:
    """One pub/sub connection and its delivery thread (from the first subscriber to the last)."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.client: Any = None
        self.thread: threading.Thread | None = None
        self.counter = ""  # the key of the namespace's event counter
        self.baseline = 0  # its value once the subscription was confirmed
        self.marks: dict[str, threading.Event] = {}  # close()'s markers, by token
        # Stops the thread and closes the connection, once: when the last subscriber
        # leaves, on close(), when the storage is collected, or at exit (before a
        # local_server() made earlier is stopped, so the connection closes first).
        self.stop: Callable[[], object] = lambda: None


class EventHub:
    """The subscribers of one Redis storage, and the connection that feeds them.

    Args:
        config: The storage's settings (server, timeouts, namespace).
        prefix: The namespace's key prefix (``"ms:{ns}:"``); the channel is ``prefix + "ev"``.
        owner: The storage, for the "closed" error (held weakly).
    """

    def __init__(self, config: RedisConfig, prefix: str, owner: object) -> None:
        """Hold no connection until the first subscriber."""
        self._config = config
        self._channel = prefix + "ev"
        self._owner = weakref.ref(owner)
        self._lock = threading.RLock()
        self._subscribers: tuple[Subscriber, ...] = ()
        self._session: _Session | None = None
        self._closed = False

    @property
    def channel(self) -> str:
        """The namespace's pub/sub channel."""
        return self._channel

    @property
    def listening(self) -> bool:
        """Whether the pub/sub connection is open (some callback is subscribed)."""
        return self._session is not None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; the first one opens the connection and waits until it listens.

        Returns a function that removes it (safe to call twice); removing the last one
        closes the connection.

        Raises:
            StorageClosedError: If the storage is closed.
            StorageConnectionError: If the server cannot be reached in time.
        """
        with self._lock:
            if self._closed:
                raise closed_error(self._owner() or self)
            if self._session is None:
                self._session = self._start()
            self._subscribers = (*self._subscribers, callback)

        hub_ref = weakref.ref(self)  # an unsubscribe function must not keep the storage alive

        def unsubscribe() -> None:
            hub = hub_ref()
            if hub is not None:
                hub._remove(callback)

        return unsubscribe

    def _remove(self, callback: Subscriber) -> None:
        with self._lock:
            subs = list(self._subscribers)
            for i, cb in enumerate(subs):
                if cb is callback:
                    del subs[i]
                    break
            else:
                return
            self._subscribers = tuple(subs)
            session = None
            if not subs:
                session, self._session = self._session, None
        if session is not None:
            session.stop()

    def _start(self) -> _Session:
        """Open the pub/sub connection, subscribe (confirmed by the server), start delivering."""
        from glide_shared.config import GlideClientConfiguration
        from glide_sync import GlideClient

        from memstore.redis._faces import _glide_config, translate

        session = _Session()
        inbox = session.inbox

        def on_message(message: Any, context: object) -> None:  # glide's thread: queue only
            inbox.put(message.message)

        config = _glide_config(self._config)
        config.pubsub_subscriptions = GlideClientConfiguration.PubSubSubscriptions(
            channels_and_patterns={}, callback=on_message, context=None
        )
        client = None
        session.counter = self._channel[:-2] + "evs"
        try:
            client = GlideClient.create(config)
            client.subscribe({self._channel}, timeout_ms=max(1, round(self._config.timeout * 1000)))
            reply: Any = client.custom_command(["GET", session.counter])
            session.baseline = int(reply or 0)
        except Exception as exc:
            if client is not None:
                _close_quietly(client)
            raise translate(exc, self._config) from None
        session.client = client
        session.stop = weakref.finalize(self, _stop, session)
        thread = threading.Thread(
            target=_deliver, args=(weakref.ref(self), session), name="memstore-redis-events", daemon=True
        )
        session.thread = thread
        thread.start()
        return session

    def close(self) -> None:
        """Deliver what is on its way, then one last ``"close"`` event; stop listening.

        "On its way" is every event the server published before this call: a marker
        sent through the connection comes back after them (bounded by the timeout).
        Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            session = self._session
        if session is not None:
            if threading.current_thread() is not session.thread:  # a callback closing waits for nobody
                _flush(session, self._channel, self._config.timeout)
            session.inbox.put(_STOP)  # after the events queued so far
            if threading.current_thread() is not session.thread and session.thread is not None:
                session.thread.join(timeout=self._config.timeout)
            session.stop()
        with self._lock:
            subscribers, self._subscribers, self._session = self._subscribers, (), None
        event = StorageEvent("close", None)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                logger.exception("memstore subscriber %r failed on the close event", callback)

    def _current(self, session: _Session) -> tuple[Subscriber, ...]:
        """The subscribers to deliver to, while ``session`` is the live one."""
        if self._session is not session:
            return ()
        return self._subscribers


def _flush(session: _Session, channel: str, timeout: float) -> None:
    """Wait until every event published before now has been delivered (or ``timeout``)."""
    token = uuid.uuid4().hex
    done = session.marks[token] = threading.Event()
    message = json.dumps([0, _MARK, token, "", "", "", "", "", "", -1])
    try:
        session.client.custom_command(["PUBLISH", channel, message])
    except Exception:  # the connection is gone: nothing more will arrive anyway
        return
    done.wait(timeout)


def _stop(session: _Session) -> None:
    session.inbox.put(_STOP)
    _close_quietly(session.client)


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:  # a dead connection is closed enough
        logger.debug("memstore: closing the Redis event connection failed", exc_info=True)


def _deliver(hub_ref: weakref.ReferenceType[EventHub], session: _Session) -> None:
    """The delivery thread: decode each message and call the subscribers, in order.

    It numbers what it delivers against the namespace's event counter. A message whose
    number does not follow the last one shows a gap: a ``"resync"`` event goes first.
    When no message comes for a while, it reads the counter: if the counter stays ahead
    of the last number delivered (events were published while the connection was down,
    and nothing has come since), or went back (the server restarted), the subscribers
    get a ``"resync"`` event then, without waiting for the next change.
    """
    last = session.baseline
    fresh = True  # nothing delivered yet: a message numbered up to the baseline is no gap
    suspect: int | None = None  # the counter at the previous idle check, if it disagreed
    while True:
        try:
            item = session.inbox.get(timeout=_POLL)
        except queue.Empty:
            current = _counter(session)
            if current is None or current == last:
                suspect = None
            elif current == suspect and session.inbox.empty():  # twice in a row, nothing on its way
                suspect, last = None, current
                if not _resync(hub_ref, session):
                    return
            else:
                suspect = current
            continue
        if item is _STOP:
            return
        try:
            seq, event = decode(item)  # type: ignore[arg-type]
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning("memstore: ignored a message on the Redis event channel: %s", exc)
            continue
        if isinstance(event, str):  # a close() marker: everything before it was delivered
            mark = session.marks.pop(event, None)
            if mark is not None:
                mark.set()
            continue
        suspect = None
        early = fresh and seq <= session.baseline  # published between SUBSCRIBE and the baseline
        fresh = False
        if not early:
            if seq != last + 1 and not _resync(hub_ref, session):
                return
            last = seq
        hub = hub_ref()
        if hub is None:
            return
        subscribers = hub._current(session)
        del hub
        _call(subscribers, event)


def _counter(session: _Session) -> int | None:
    """The namespace's event counter, or ``None`` while the server cannot be reached."""
    try:
        reply: Any = session.client.custom_command(["GET", session.counter])
        return int(reply or 0)
    except Exception:
        return None


def _resync(hub_ref: weakref.ReferenceType[EventHub], session: _Session) -> bool:
    """Tell the subscribers that events were missed; ``False`` if the storage is gone."""
    hub = hub_ref()
    if hub is None:
        return False
    subscribers = hub._current(session)
    del hub
    _call(subscribers, StorageEvent("resync", None))
    return True


def _call(subscribers: tuple[Subscriber, ...], event: StorageEvent) -> None:
    for callback in subscribers:
        try:
            callback(event)
        except Exception:
            logger.exception("memstore subscriber %r failed on %s event", callback, event.kind)
