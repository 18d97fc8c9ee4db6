"""The Python peer of tests/sanic_interop.rs: sanic-session 0.8.0 on Sanic 23.12.

    SANIC_SESSION_BACKEND=redis    SANIC_SESSION_STORE=127.0.0.1:6379  python app.py PORT
    SANIC_SESSION_BACKEND=memcache SANIC_SESSION_STORE=127.0.0.1:11211 python app.py PORT

Four session interfaces share the one store, each configured literally here
(never derived from the Rust side, so a drift between the two shows):

    session       sanic-session's defaults
    alt_session   every option set
    bs_session    a browser-session cookie (sessioncookie=True)
    long_session  an expiry above memcached's 30-day relative limit

Routes, all GET, each answering {"sid": ..., "data": {...}} (stdlib json):

    /health                      200 once the store client is up
    /<name>/get                  the session as it is
    /<name>/update?v=<json obj>  session.update(obj)
    /<name>/remove/<key>         del session[key]
    /<name>/clear                session.clear()

Tests start it on a free loopback port with TZ=UTC, because sanic-session
formats its local time as GMT in `expires`.
"""

import json
import os
import sys

import aiomcache
import asyncio_redis
from sanic import Sanic
from sanic.exceptions import NotFound
from sanic.response import HTTPResponse
from sanic_session import MemcacheSessionInterface, RedisSessionInterface, Session

CONFIGS = {
    "session": {},
    "alt_session": {
        "cookie_name": "sid",
        "domain": "example.com",
        "expiry": 7200,
        "httponly": False,
        "secure": True,
        "samesite": "none",
        "prefix": "app:sess:",
        "sessioncookie": False,
        "session_name": "alt_session",
    },
    "bs_session": {
        "cookie_name": "bsid",
        "expiry": 600,
        "samesite": "lax",
        "prefix": "bs:",
        "sessioncookie": True,
        "session_name": "bs_session",
    },
    "long_session": {
        "cookie_name": "long",
        "expiry": 40 * 86400,
        "prefix": "long:",
        "session_name": "long_session",
    },
}

backend = os.environ["SANIC_SESSION_BACKEND"]
host, port = os.environ["SANIC_SESSION_STORE"].rsplit(":", 1)
port = int(port)

app = Sanic("sessionkit_interop_peer")
app.config.MOTD = False
clients = {}


async def redis_getter():
    return clients["redis"]


@app.listener("before_server_start")
async def connect(app, loop):
    if backend == "redis":
        clients["redis"] = await asyncio_redis.Pool.create(host=host, port=port, poolsize=4)
    else:
        clients["memcache"] = aiomcache.Client(host, port, pool_size=4)


@app.listener("after_server_stop")
async def disconnect(app, loop):
    if "redis" in clients:
        clients["redis"].close()
    if "memcache" in clients:
        await clients["memcache"].close()


for config in CONFIGS.values():
    if backend == "redis":
        interface = RedisSessionInterface(redis_getter, **config)
    elif backend == "memcache":
        # The client is attached in attach_memcache, once the loop runs.
        interface = MemcacheSessionInterface(None, **config)
    else:
        raise SystemExit(f"unknown SANIC_SESSION_BACKEND {backend!r}")
    Session(app, interface=interface)


@app.listener("before_server_start")
async def attach_memcache(app, loop):
    # MemcacheSessionInterface takes the client itself, which only exists
    # once the loop runs.
    if backend == "memcache":
        for extension in app.ctx.extensions.values():
            extension.interface.memcache_connection = clients["memcache"]


def reply(request, name):
    session = getattr(request.ctx, name)
    body = json.dumps({"sid": session.sid, "data": dict(session)})
    return HTTPResponse(body, content_type="application/json")


def session_name(name):
    if name not in CONFIGS:
        raise NotFound(f"no session {name!r}")
    return name


@app.get("/health")
async def health(request):
    return HTTPResponse("ok" if clients else "starting", status=200 if clients else 503)


@app.get("/<name>/get")
async def get(request, name):
    return reply(request, session_name(name))


@app.get("/<name>/update")
async def update(request, name):
    getattr(request.ctx, session_name(name)).update(json.loads(request.args.get("v")))
    return reply(request, name)


@app.get("/<name>/remove/<key>")
async def remove(request, name, key):
    del getattr(request.ctx, session_name(name))[key]
    return reply(request, name)


@app.get("/<name>/clear")
async def clear(request, name):
    getattr(request.ctx, session_name(name)).clear()
    return reply(request, name)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False)
