"""The Lua scripts of the Redis backend: every change is one script, run atomically by the server.

Layout of a namespace ``ns`` (every key starts with ``P = "ms:{ns}:"``; the braces make
it one Redis Cluster hash slot):

========================  ============================================================
``P idx``                 sorted set of every key (all scores 0: ordered by bytes, i.e.
                          by code point, as Python orders ``str``); listing is
                          ``ZRANGEBYLEX``, never ``SCAN``/``KEYS``
``P f:<key>``             hash of one file: ``size etag ct mt meta ver n cs``
``P c:<ver>:<i>``         chunk ``i`` of the contents of version ``ver`` (``cs`` bytes each,
                          the last one shorter)
``P rc``                  hash ``ver -> references``: a copy shares its source's chunks
``P st``                  hash ``used count reserved``: the quota ledger
``P res`` / ``P stg``     hashes ``token -> reserved bytes`` / ``token -> staged chunks`` of
                          streamed puts in progress
``P lease``               sorted set ``token -> deadline (ms)``: a stream whose writer died
                          is reclaimed (chunks deleted, reservation released) after it
``P seq``                 counter naming the versions of small files
``P evs``                 counter numbering the change events (a gap means some were lost)
``P ev``                  pub/sub channel (not a key): every committed change publishes
                          its event there, from inside its script (``publish`` below)
========================  ============================================================

An event message is a JSON array ``[seq, kind, key, size, etag, ct, mt, meta, source,
count]``: ``""`` stands for "none" (no key is empty) and ``count`` is ``-1`` unless the
kind has one (memstore/redis/_events.py decodes it). Publishing inside the script makes
the message atomic with the change and ordered with it: the server runs one script at a
time, and a subscriber receives the messages in the order the scripts ran.

Every script takes ``P`` as ``ARGV[1]`` and answers a table whose first item is a status:
``ok``, ``notfound``, ``exists``, ``precond``, ``quota`` or ``lease``. The scripts build
the key names from ``P`` (so they need a standalone server or one hash slot per
namespace, which the braces give).
"""

from __future__ import annotations

__all__ = [
    "ABORT",
    "CHECK",
    "DELETE",
    "DELETE_RANGE",
    "LIST",
    "LIST_DIR",
    "PUT",
    "RANGE",
    "READ",
    "STAGE",
    "TRANSFER",
]

_UNPACK = r"""
-- The client may send the text arguments packed in ARGV[1] (see _faces.pack_args): NUL, the
-- positions of the bytes arguments sent apart, NUL, then every argument separated by NUL.
-- Rebuild the plain ARGV from it: glide and the server cost about 1 us per argument.
local function unpack_argv(raw)
  local packed = raw[1]
  if string.byte(packed, 1) ~= 0 then return raw end
  local head = string.find(packed, '\0', 2, true)
  local blobs = {}
  for at in string.gmatch(string.sub(packed, 2, head - 1), '%d+') do blobs[tonumber(at)] = true end
  local out, i, blob, pos = {}, 0, 1, head + 1
  while true do
    i = i + 1
    local stop = string.find(packed, '\0', pos, true)
    if blobs[i] then
      blob = blob + 1
      out[i] = raw[blob]
    elseif stop then
      out[i] = string.sub(packed, pos, stop - 1)
    else
      out[i] = string.sub(packed, pos)
    end
    if not stop then return out end
    pos = stop + 1
  end
end
local ARGV = unpack_argv(ARGV)
"""

PACKED_MARK = "unpack_argv"
"""Scripts whose source contains this take packed arguments (:data:`_UNPACK`)."""

_PRELUDE = (
    _UNPACK
    + r"""
local P = ARGV[1]
local FIELDS = {'size', 'etag', 'ct', 'mt', 'meta', 'ver', 'n', 'cs'}
local function now()
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return ms, t[1] .. string.format('%06d', tonumber(t[2]))
end
local function num(v) return tonumber(v or '0') end
local function drop_chunks(ver, n)
  for i = 0, n - 1 do redis.call('UNLINK', P .. 'c:' .. ver .. ':' .. i) end
end
local function unref(ver, n)
  if redis.call('HINCRBY', P .. 'rc', ver, -1) <= 0 then
    redis.call('HDEL', P .. 'rc', ver)
    drop_chunks(ver, n)
  end
end
local function settle(tok, keep_chunks)
  local pin = redis.call('HGET', P .. 'pin', tok)
  if pin then
    local ver, n = string.match(pin, '^(.*)|(%d+)$')
    redis.call('HDEL', P .. 'pin', tok)
    unref(ver, tonumber(n))
  end
  local held = num(redis.call('HGET', P .. 'res', tok))
  if held ~= 0 then redis.call('HINCRBY', P .. 'st', 'reserved', -held) end
  if not keep_chunks then drop_chunks(tok, num(redis.call('HGET', P .. 'stg', tok))) end
  redis.call('HDEL', P .. 'res', tok)
  redis.call('HDEL', P .. 'stg', tok)
  redis.call('ZREM', P .. 'lease', tok)
end
local function reclaim(now_ms)
  for _, tok in ipairs(redis.call('ZRANGEBYSCORE', P .. 'lease', '-inf', now_ms)) do settle(tok, false) end
end
local function account(added, grown)
  if grown ~= 0 then redis.call('HINCRBY', P .. 'st', 'used', grown) end
  if added ~= 0 then redis.call('HINCRBY', P .. 'st', 'count', added) end
end
local function ledger()
  local st = redis.call('HMGET', P .. 'st', 'used', 'reserved')
  return num(st[1]), num(st[2])
end
-- the change event of a committed write: f = {size, etag, ct, mt, meta} of the file, or nil
local function publish(kind, key, f, source, count)
  local seq = redis.call('INCR', P .. 'evs')
  local msg = {seq, kind, key or '', '', '', '', '', '', source or '', count or -1}
  if f then
    for i = 1, 5 do msg[3 + i] = f[i] or '' end
  end
  redis.call('PUBLISH', P .. 'ev', cjson.encode(msg))
end
"""
)

PUT = (
    _PRELUDE
    + r"""
-- ARGV: P key token size etag ct meta n cs create_only if_match max [data]
local key, tok = ARGV[2], ARGV[3]
local size, limit = tonumber(ARGV[4]), tonumber(ARGV[12])
local now_ms, mt = now()
reclaim(now_ms)
if tok ~= '' and redis.call('HEXISTS', P .. 'stg', tok) == 0 then return {'lease'} end
local fk = P .. 'f:' .. key
local old = redis.call('HMGET', fk, 'size', 'etag', 'ver', 'n')
local function fail(reply)
  if tok ~= '' then settle(tok, false) end
  return reply
end
if ARGV[10] == '1' and old[1] then return fail({'exists'}) end
if ARGV[11] ~= '' and old[2] ~= ARGV[11] then return fail({'precond', old[2] or ''}) end
local old_size = num(old[1])
local held = 0
if tok ~= '' then held = num(redis.call('HGET', P .. 'res', tok)) end
local used, reserved = ledger()
if limit >= 0 and used - old_size + size + reserved - held > limit then return fail({'quota', used}) end
local ver = tok
if tok == '' then
  ver = 'v' .. redis.call('INCR', P .. 'seq')
  if ARGV[8] ~= '0' then redis.call('SET', P .. 'c:' .. ver .. ':0', ARGV[13]) end
else
  settle(tok, true)
end
redis.call('HSET', P .. 'rc', ver, 1)
if old[1] then unref(old[3], num(old[4])) else redis.call('ZADD', P .. 'idx', 0, key) end
redis.call('HSET', fk, 'size', ARGV[4], 'etag', ARGV[5], 'ct', ARGV[6], 'mt', mt, 'meta', ARGV[7],
  'ver', ver, 'n', ARGV[8], 'cs', ARGV[9])
account(old[1] and 0 or 1, size - old_size)
publish('put', key, {ARGV[4], ARGV[5], ARGV[6], mt, ARGV[7]})
return {'ok', mt}
"""
)

STAGE = (
    _PRELUDE
    + r"""
-- ARGV: P token index chunk received key max lease_ms
-- reserves quota up to `received` bytes, then stores chunk `index` (index -1: reserve only)
local tok, idx = ARGV[2], tonumber(ARGV[3])
local now_ms = now()
reclaim(now_ms)
if idx > 0 and redis.call('HEXISTS', P .. 'stg', tok) == 0 then return {'lease'} end
local limit = tonumber(ARGV[7])
local held = num(redis.call('HGET', P .. 'res', tok))
local credit = num(redis.call('HGET', P .. 'f:' .. ARGV[6], 'size'))
local want = tonumber(ARGV[5]) - credit - held
if want > 0 then
  local used, reserved = ledger()
  if limit >= 0 and used + reserved + want > limit then
    settle(tok, false)
    return {'quota', used}
  end
  redis.call('HINCRBY', P .. 'st', 'reserved', want)
  redis.call('HINCRBY', P .. 'res', tok, want)
end
if idx >= 0 then
  redis.call('SET', P .. 'c:' .. tok .. ':' .. idx, ARGV[4])
  redis.call('HSET', P .. 'stg', tok, idx + 1)
elseif redis.call('HEXISTS', P .. 'stg', tok) == 0 then
  redis.call('HSET', P .. 'stg', tok, 0)
end
redis.call('ZADD', P .. 'lease', now_ms + tonumber(ARGV[8]), tok)
return {'ok'}
"""
)

ABORT = (
    _PRELUDE
    + r"""
-- ARGV: P token
settle(ARGV[2], false)
return {'ok'}
"""
)

DELETE = (
    _PRELUDE
    + r"""
-- ARGV: P key if_match
local key = ARGV[2]
local fk = P .. 'f:' .. key
local old = redis.call('HMGET', fk, 'size', 'etag', 'ver', 'n', 'ct', 'mt', 'meta')
if ARGV[3] ~= '' and old[2] ~= ARGV[3] then return {'precond', old[2] or ''} end
if not old[1] then return {'notfound'} end
redis.call('DEL', fk)
redis.call('ZREM', P .. 'idx', key)
unref(old[3], num(old[4]))
account(-1, -num(old[1]))
publish('delete', key, {old[1], old[2], old[5], old[6], old[7]})
return {'ok'}
"""
)

TRANSFER = (
    _PRELUDE
    + r"""
-- ARGV: P source destination remove overwrite max
local src, dst, remove = ARGV[2], ARGV[3], ARGV[4] == '1'
local s = redis.call('HMGET', P .. 'f:' .. src, unpack(FIELDS))
if not s[1] then return {'notfound'} end
local d = redis.call('HMGET', P .. 'f:' .. dst, 'size', 'ver', 'n')
if ARGV[5] == '0' and d[1] then return {'exists'} end
if src == dst then return {'ok', s[4], s[1], s[2], s[3], s[5]} end
local size, old_size, limit = tonumber(s[1]), num(d[1]), tonumber(ARGV[6])
local growth = size - old_size
if remove then growth = growth - size end
local used, reserved = ledger()
if limit >= 0 and growth > 0 and used + reserved + growth > limit then return {'quota', used, size} end
local _, mt = now()
if remove then
  redis.call('DEL', P .. 'f:' .. src)
  redis.call('ZREM', P .. 'idx', src)
else
  redis.call('HINCRBY', P .. 'rc', s[6], 1)
end
if d[1] then unref(d[2], num(d[3])) else redis.call('ZADD', P .. 'idx', 0, dst) end
redis.call('HSET', P .. 'f:' .. dst, 'size', s[1], 'etag', s[2], 'ct', s[3], 'mt', mt, 'meta', s[5],
  'ver', s[6], 'n', s[7], 'cs', s[8])
local added = d[1] and 0 or 1
if remove then added = added - 1 end
account(added, growth)
publish(remove and 'move' or 'copy', dst, {s[1], s[2], s[3], mt, s[5]}, src)
return {'ok', mt, s[1], s[2], s[3], s[5]}
"""
)

DELETE_RANGE = (
    _PRELUDE
    + r"""
-- ARGV: P lo hi [prefix] (ZRANGEBYLEX bounds): every file in the range, in one step;
-- its event is "delete_prefix" of prefix, or "clear" when prefix is '' or absent
local idx = P .. 'idx'
local keys = redis.call('ZRANGEBYLEX', idx, ARGV[2], ARGV[3])
local total = 0
for _, key in ipairs(keys) do
  local fk = P .. 'f:' .. key
  local f = redis.call('HMGET', fk, 'size', 'ver', 'n')
  redis.call('DEL', fk)
  unref(f[2], num(f[3]))
  total = total + num(f[1])
end
if #keys > 0 then
  redis.call('ZREMRANGEBYLEX', idx, ARGV[2], ARGV[3])
  account(-#keys, -total)
  if (ARGV[4] or '') == '' then publish('clear') else publish('delete_prefix', ARGV[4], nil, nil, #keys) end
end
return {'ok', #keys}
"""
)

_FILE_ROWS = r"""
local function rows(keys, out)
  for _, key in ipairs(keys) do
    local f = redis.call('HMGET', P .. 'f:' .. key, 'size', 'etag', 'ct', 'mt', 'meta')
    out[#out + 1] = key
    for i = 1, 5 do out[#out + 1] = f[i] or '' end
  end
  return out
end
"""

LIST = (
    _PRELUDE
    + _FILE_ROWS
    + r"""
-- ARGV: P lo hi count: one consistent page of files (6 items each)
local keys = redis.call('ZRANGEBYLEX', P .. 'idx', ARGV[2], ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
return rows(keys, {'ok'})
"""
)

LIST_DIR = (
    _PRELUDE
    + _FILE_ROWS
    + r"""
-- ARGV: P prefix: one folder level, skipping each sub-folder through the index
local prefix = ARGV[2]
local idx, plen = P .. 'idx', #ARGV[2]
local lo = '[' .. prefix
local hi = '+'
if prefix ~= '' then hi = '[' .. prefix .. '\255' end
local folders, files = {}, {}
-- read a few keys after each jump (the next one often starts another sub-folder), more
-- and more (up to 128) while they are files
local want = 8
while true do
  local batch = redis.call('ZRANGEBYLEX', idx, lo, hi, 'LIMIT', 0, want)
  local jumped = false
  for _, key in ipairs(batch) do
    local slash = string.find(key, '/', plen + 1, true)
    if slash then
      local folder = string.sub(key, 1, slash)
      folders[#folders + 1] = folder
      lo = '[' .. folder .. '\255'
      jumped = true
      break
    end
    files[#files + 1] = key
    lo = '(' .. key
  end
  if jumped then
    want = 2
  elseif #batch < want then
    break
  elseif want < 128 then
    want = want * 2
  end
end
return {'ok', folders, rows(files, {})}
"""
)

READ = (
    _PRELUDE
    + r"""
-- ARGV: P key start end budget token lease_ms: a file's fields, and data[start:end] when it is
-- at most budget bytes; else the version is pinned for token (until ABORT, or the lease ends)
local f = redis.call('HMGET', P .. 'f:' .. ARGV[2], unpack(FIELDS))
if not f[1] then return {'notfound'} end
local size = tonumber(f[1])
local function bound(v, default)
  if v == '' then return default end
  v = tonumber(v)
  if v < 0 then
    v = v + size
    if v < 0 then v = 0 end
  elseif v > size then
    v = size
  end
  return v
end
local lo = bound(ARGV[3], 0)
local hi = bound(ARGV[4], size)
if hi < lo then hi = lo end
local budget = tonumber(ARGV[5])
local pieces = {}
if hi > lo and (budget < 0 or hi - lo <= budget) then
  local cs = tonumber(f[8])
  local first, last = math.floor(lo / cs), math.floor((hi - 1) / cs)
  for i = first, last do
    local a, b = 0, cs - 1
    if i == first then a = lo - i * cs end
    if i == last then b = hi - 1 - i * cs end
    pieces[#pieces + 1] = redis.call('GETRANGE', P .. 'c:' .. f[6] .. ':' .. i, a, b)
  end
elseif hi > lo then
  local now_ms = now()
  reclaim(now_ms)
  redis.call('HINCRBY', P .. 'rc', f[6], 1)
  redis.call('HSET', P .. 'pin', ARGV[6], f[6] .. '|' .. f[7])
  redis.call('ZADD', P .. 'lease', now_ms + tonumber(ARGV[7]), ARGV[6])
end
return {'ok', f, lo, hi, pieces}
"""
)

RANGE = (
    _PRELUDE
    + r"""
-- ARGV: P ver cs lo hi token lease_ms: bytes lo..hi of a version pinned by token (renews the pin)
if not redis.call('HGET', P .. 'pin', ARGV[6]) then return {'notfound'} end
redis.call('ZADD', P .. 'lease', 'XX', now() + tonumber(ARGV[7]), ARGV[6])
local cs, lo, hi = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local pieces = {}
local first, last = math.floor(lo / cs), math.floor((hi - 1) / cs)
for i = first, last do
  local a, b = 0, cs - 1
  if i == first then a = lo - i * cs end
  if i == last then b = hi - 1 - i * cs end
  pieces[#pieces + 1] = redis.call('GETRANGE', P .. 'c:' .. ARGV[2] .. ':' .. i, a, b)
end
return {'ok', pieces}
"""
)

CHECK = (
    _PRELUDE
    + r"""
-- ARGV: P: fsck of the namespace (O(n)): index, file hashes, chunks, references and ledger agree
local problems = {}
local function report(text) problems[#problems + 1] = text end
local keys = redis.call('ZRANGEBYLEX', P .. 'idx', '-', '+')
local used, refs = 0, {}
for _, key in ipairs(keys) do
  local f = redis.call('HMGET', P .. 'f:' .. key, unpack(FIELDS))
  if not f[1] then
    report('indexed key has no file record: ' .. key)
  else
    local size, n, cs = tonumber(f[1]), tonumber(f[7]), tonumber(f[8])
    used = used + size
    refs[f[6]] = (refs[f[6]] or 0) + 1
    local total = 0
    for i = 0, n - 1 do total = total + redis.call('STRLEN', P .. 'c:' .. f[6] .. ':' .. i) end
    if total ~= size then
      report('chunks of ' .. key .. ' hold ' .. total .. ' bytes, its size is ' .. size)
    end
    if n ~= math.ceil(size / cs) then
      report('chunk count of ' .. key .. ' is ' .. n .. ' for ' .. size .. ' bytes')
    end
  end
end
local st = redis.call('HMGET', P .. 'st', 'used', 'count', 'reserved')
if num(st[1]) ~= used then report('ledger says ' .. num(st[1]) .. ' bytes used, files hold ' .. used) end
if num(st[2]) ~= #keys then report('ledger says ' .. num(st[2]) .. ' files, the index holds ' .. #keys) end
local pins = redis.call('HVALS', P .. 'pin')
for _, pin in ipairs(pins) do
  local ver = string.match(pin, '^(.*)|%d+$')
  refs[ver] = (refs[ver] or 0) + 1
end
local rc = redis.call('HGETALL', P .. 'rc')
for i = 1, #rc, 2 do
  if tonumber(rc[i + 1]) ~= (refs[rc[i]] or 0) then
    report('version ' .. rc[i] .. ' has ' .. rc[i + 1] .. ' references, files use it '
      .. (refs[rc[i]] or 0) .. ' times')
  end
  refs[rc[i]] = nil
end
for ver, count in pairs(refs) do
  report('version ' .. ver .. ' is used ' .. count .. ' times but not counted')
end
local held = 0
local res = redis.call('HGETALL', P .. 'res')
for i = 2, #res, 2 do held = held + tonumber(res[i]) end
if held ~= num(st[3]) then
  report('ledger says ' .. num(st[3]) .. ' bytes reserved, streams hold ' .. held)
end
return {'ok', problems, redis.call('ZCARD', P .. 'lease')}
"""
)
