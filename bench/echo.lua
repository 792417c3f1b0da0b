-- bench/echo.lua: wrk 4.1 script that calls the MCP `echo` tool over initialized Streamable HTTP
-- sessions and checks every response body.
-- Not here: creating sessions (bench/run.sh does initialize + notifications/initialized with curl
-- and passes the ids in), starting servers, computing ratios.
--
-- Per request this allocates one body string, one id string and one table slot (the pending set).
--
-- Environment:
--   MCP_SESSIONS          comma-separated Mcp-Session-Id values; thread i uses entry i (wrapping
--                         round-robin when there are fewer sessions than threads). Required,
--                         except for 2026-07-28 (stateless: no session at all).
--   MCP_PROTOCOL_VERSION  value of the MCP-Protocol-Version header (default 2025-06-18). From
--                         2026-07-28 on, every request also carries the `_meta` version and the
--                         mirrored `Mcp-Method`/`Mcp-Name` headers, and no session.
--   ECHO_ARG              the echo tool's argument name (default `message`, the demo server's).
--   ECHO_PAD              bytes of padding appended to every message (default 0).
--   ROTATE                if 1, every request of every thread takes the next session of the
--                         whole MCP_SESSIONS list (sessions rotate over connections, as behind a
--                         backend multiplexing many users' sessions over one connection pool).
--   DELAY_MS              if > 0, every connection waits this long between two requests; used
--                         for the moderate-load latency run (wrk's latency excludes the delay).
--
-- Output of done() (one line each, parsed by run.sh):
--   errors non2xx=N wrong_body=N unchecked=N connect=N read=N write=N timeout=N
--   result requests=N duration_us=N rps=X mean_us=X p50_us=N p90_us=N p99_us=N p999_us=N max_us=N
--   first_bad <status> <body prefix>        (only when something was wrong)
--
-- Why a pending set and not a FIFO: wrk keeps several connections per thread and calls request()
-- and response() without saying which connection they belong to, so per-thread arrival order is
-- not request order. Ids are unique across threads (counter * ID_STRIDE + thread index), so a
-- response carrying an id this thread never sent, or sent and already answered, is a wrong body.
-- Limit: a swap of two answers between connections of the SAME thread is not detected.

local ID_STRIDE = 1000 -- more wrk threads than this would make ids collide
local PROTOCOL_VERSION = os.getenv("MCP_PROTOCOL_VERSION") or "2025-06-18"
-- Protocol versions are dates: string order is date order.
local STATELESS = PROTOCOL_VERSION >= "2026-07-28"
local ECHO_ARG = os.getenv("ECHO_ARG") or "message"
local META = STATELESS and (',"_meta":{"io.modelcontextprotocol/protocolVersion":"' .. PROTOCOL_VERSION
   .. '","io.modelcontextprotocol/clientCapabilities":{},'
   .. '"io.modelcontextprotocol/clientInfo":{"name":"shadowcat-bench","version":"0"}}') or ""
local PAD = string.rep("x", tonumber(os.getenv("ECHO_PAD") or "0") or 0)
local DELAY = tonumber(os.getenv("DELAY_MS") or "0") or 0
local ROTATE = os.getenv("ROTATE") == "1"

-- ---------------------------------------------------------------- setup / done (main Lua state)

local threads = {}

local function split_commas(text)
   local items = {}
   for item in string.gmatch(text or "", "[^,%s]+") do
      items[#items + 1] = item
   end
   return items
end

function setup(thread)
   local sessions = split_commas(os.getenv("MCP_SESSIONS"))
   if STATELESS then
      sessions = { "" }
   elseif #sessions == 0 then
      error("echo.lua: MCP_SESSIONS is empty; run through bench/run.sh or export session ids")
   end
   local index = #threads + 1
   if index >= ID_STRIDE then
      error("echo.lua: too many threads for the id scheme")
   end
   thread:set("thread_index", index)
   thread:set("session_id", sessions[((index - 1) % #sessions) + 1])
   thread:set("session_list", table.concat(sessions, ","))
   threads[index] = thread
end

local function sum_over_threads(name)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + (thread:get(name) or 0)
   end
   return total
end

function done(summary, latency, requests)
   local checked = sum_over_threads("checked")
   local errors = summary.errors
   io.write(string.format(
      "errors non2xx=%d wrong_body=%d unchecked=%d connect=%d read=%d write=%d timeout=%d\n",
      sum_over_threads("non2xx"), sum_over_threads("wrong_body"), summary.requests - checked,
      errors.connect, errors.read, errors.write, errors.timeout))
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "result requests=%d duration_us=%d rps=%.1f mean_us=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
      summary.requests, summary.duration, summary.requests / seconds, latency.mean,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max))
   for _, thread in ipairs(threads) do
      local bad = thread:get("first_bad")
      if bad then
         io.write("first_bad " .. bad .. "\n")
         break
      end
   end
end

-- ---------------------------------------------------------------- running phase (thread states)

local headers, path, counter, pending, rotation

function init(args)
   counter = 0
   pending = {}
   checked, non2xx, wrong_body = 0, 0, 0
   path = wrk.path
   -- wrk.format uses this table INSTEAD of wrk.headers, so it must be complete.
   headers = {
      ["Host"] = wrk.headers["Host"],
      ["Accept"] = "application/json, text/event-stream",
      ["Content-Type"] = "application/json",
      ["MCP-Protocol-Version"] = PROTOCOL_VERSION,
   }
   if STATELESS then
      headers["Mcp-Method"] = "tools/call"
      headers["Mcp-Name"] = "echo"
   else
      headers["Mcp-Session-Id"] = session_id
   end
   rotation = ROTATE and split_commas(session_list) or nil
end

if DELAY > 0 then
   function delay()
      return DELAY
   end
end

local function message_for(id_text)
   return "echo-" .. id_text .. PAD
end

function request()
   counter = counter + 1
   local id_text = string.format("%d", counter * ID_STRIDE + thread_index)
   pending[id_text] = true
   if rotation then
      headers["Mcp-Session-Id"] = rotation[(counter + thread_index) % #rotation + 1]
   end
   local body = '{"jsonrpc":"2.0","id":' .. id_text
      .. ',"method":"tools/call","params":{"name":"echo","arguments":{"' .. ECHO_ARG .. '":"'
      .. message_for(id_text) .. '"}' .. META .. '}}'
   return wrk.format("POST", path, headers, body)
end

local function remember_bad(status, body)
   if not first_bad then
      first_bad = string.format("%d %s", status, (string.gsub(string.sub(body or "", 1, 300), "%s+", " ")))
   end
end

function response(status, _, body)
   checked = checked + 1
   local id_text = string.match(body or "", '"id"%s*:%s*(%d+)')
   local was_pending = id_text ~= nil and pending[id_text] == true
   if was_pending then
      pending[id_text] = nil
   end
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      remember_bad(status, body)
      return
   end
   -- The echoed text must be the one sent with this very id.
   if not was_pending or not string.find(body, '"' .. message_for(id_text) .. '"', 1, true) then
      wrong_body = wrong_body + 1
      remember_bad(status, body)
   end
end
