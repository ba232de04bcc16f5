package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Remote keeps rate limit and quota state in Redis, so that every gateway
// node sharing the server enforces one exact budget. Each request costs
// one round trip: a Lua script takes all of its limits and its quota at
// once, on Redis's clock, and counts nothing unless all of them have room.
//
// When Redis fails, Remote is marked down and requests stop waiting for it
// at once: fail open (the default) counts in each node's own memory, fail
// closed refuses with 503. A background probe marks it up again as soon
// as Redis answers.
type Remote struct {
	client *redis.Client
	prefix string
	log    *slog.Logger
	events Events

	up     atomic.Bool
	closed atomic.Bool
	wake   chan struct{}
	once   sync.Once
	stop   chan struct{}
	done   chan struct{}
}

func init() {
	// Remote logs Redis failures itself, once per outage; the client's
	// own lines would repeat them on stderr for every dial.
	redis.SetLogger(quietLogger{})
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// Events receives what operators should see (telemetry.Metrics implements
// it): Redis going down or up, and requests decided without it.
type Events interface {
	RedisUp(up bool)
	RateLimitFallback(mode string)
}

// NewRemote connects to the Redis server at url (redis:// or rediss://)
// with keys under prefix. It does not wait for the server: a server that
// is not there yet is treated as down until the probe reaches it.
func NewRemote(url, prefix string, log *slog.Logger, events Events) (*Remote, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	// A limiter must answer quickly or get out of the way: short timeouts,
	// one retry (for a pooled connection the server closed), and no wait
	// for a pool connection longer than a read.
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 250 * time.Millisecond
	opt.WriteTimeout = 250 * time.Millisecond
	opt.PoolTimeout = 250 * time.Millisecond
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	r := &Remote{
		client: redis.NewClient(opt),
		prefix: prefix,
		log:    log,
		events: events,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	r.up.Store(true)
	if events != nil {
		events.RedisUp(true)
	}
	go r.probe()
	return r, nil
}

// Up says whether requests use Redis now.
func (r *Remote) Up() bool { return r.up.Load() }

// FailClosed says whether requests are refused while Redis is down.
func (r *Remote) FailClosed() bool { return r.closed.Load() }

// SetFailClosed sets the failure mode (the config's redis_failure_mode).
func (r *Remote) SetFailClosed(closed bool) { r.closed.Store(closed) }

// Close stops the probe and closes the connections.
func (r *Remote) Close() error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return r.client.Close()
}

// failed marks Redis down after a request could not use it.
func (r *Remote) failed(err error) {
	if errors.Is(err, context.Canceled) {
		return // the client left; Redis may be fine
	}
	if r.up.CompareAndSwap(true, false) {
		mode := "open: each node enforces the limits in its own memory"
		if r.FailClosed() {
			mode = "closed: requests with rate limits or quotas are refused with 503"
		}
		r.log.Error("redis unreachable; rate limits fail "+mode, "err", err)
		if r.events != nil {
			r.events.RedisUp(false)
		}
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

func (r *Remote) fellBack(mode string) {
	if r.events != nil {
		r.events.RateLimitFallback(mode)
	}
}

// probe pings Redis while it is down, every 500 ms, and marks it up when it
// answers.
func (r *Remote) probe() {
	defer close(r.done)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-tick.C:
		}
		if r.up.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := r.client.Ping(ctx).Err()
		if err == nil {
			err = takeScript.Load(ctx, r.client).Err()
		}
		cancel()
		if err == nil && r.up.CompareAndSwap(false, true) {
			r.log.Info("redis reachable again; rate limits are shared by every node")
			if r.events != nil {
				r.events.RedisUp(true)
			}
		}
	}
}

// takeScript takes one request from every GCRA key and quota key of a
// request, or from none of them. Times are microseconds on Redis's clock
// (TIME), so nodes' clocks do not matter; a key more than its window
// ahead of that clock (which only setting it back makes) is brought back
// to a budget just spent.
//
// KEYS: n limit keys, then the quota key if any.
// ARGV: n, then interval and window of each limit, then the quota's limit
// and its key's lifetime in seconds.
// Answer: ok, then remaining, reset and retry of each limit (remaining -1
// when that limit refused), then the quota's count after this request.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local ok = 1
local out = {0}
local nexts = {}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > now + window then
    -- Never written so: Redis's clock was set back. The budget is taken
    -- as just spent, not spent until the clock catches up.
    tat = now + window
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.ceil(window / 1000) + 1)
  end
  if tat < now then tat = now end
  local nxt = tat + interval
  if nxt - now > window then
    ok = 0
    out[#out + 1] = -1
    out[#out + 1] = tat - now
    out[#out + 1] = nxt - window - now
  else
    nexts[i] = nxt
    out[#out + 1] = math.floor((window - (nxt - now)) / interval)
    out[#out + 1] = nxt - now
    out[#out + 1] = 0
  end
end
local used = 0
if #KEYS > n then
  local limit = tonumber(ARGV[2 * n + 2])
  used = tonumber(redis.call('GET', KEYS[n + 1]) or '0')
  if used >= limit then ok = 0 end
end
if ok == 1 then
  for i = 1, n do
    -- %d: an exact integer whatever the Lua number formatting of the server
    redis.call('SET', KEYS[i], string.format('%d', nexts[i]), 'PX', math.ceil((nexts[i] - now) / 1000) + 1)
  end
  if #KEYS > n then
    used = redis.call('INCR', KEYS[n + 1])
    if used == 1 then redis.call('EXPIRE', KEYS[n + 1], tonumber(ARGV[2 * n + 3])) end
  end
end
out[1] = ok
out[#out + 1] = used
return out
`)

// take decides one request in Redis.
func (r *Remote) take(ctx context.Context, checks []check, quota *Quota, consumer string, now time.Time) (decision, error) {
	keys := make([]string, 0, len(checks)+1)
	args := make([]any, 0, 2*len(checks)+3)
	args = append(args, len(checks))
	for _, c := range checks {
		keys = append(keys, r.limitKey(c))
		iv := max(c.limit.Window.Microseconds()/int64(c.limit.Limit), 1)
		args = append(args, iv, iv*int64(c.limit.Limit))
	}
	var s *span
	if quota != nil {
		s = quota.span(now)
		keys = append(keys, r.prefix+"q:"+strconv.Quote(consumer)+":"+s.key)
		// Keep the count a day past the period, for late readers.
		args = append(args, quota.Limit, int64(s.end.Sub(now)/time.Second)+86400)
	}
	res, err := takeScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return decision{}, err
	}
	if len(res) != 2+3*len(checks) {
		return decision{}, fmt.Errorf("redis rate limit script answered %d values, want %d", len(res), 2+3*len(checks))
	}
	var d decision
	refusedByLimit := false
	for i, c := range checks {
		v := verdict{ok: res[1+3*i] >= 0, remaining: int(max(res[1+3*i], 0)),
			reset: time.Duration(res[2+3*i]) * time.Microsecond, retry: time.Duration(res[3+3*i]) * time.Microsecond}
		if !v.ok {
			refusedByLimit = true
		}
		d.pick(c.limit, v, i == 0)
	}
	switch d.ok = res[0] == 1; {
	case d.ok:
	case refusedByLimit:
		d.refusal = errLimited
	default:
		d.refusal, d.retry = errQuota, s.end.Sub(now)
	}
	if quota != nil {
		quota.observe(consumer, s, res[len(res)-1])
	}
	return d, nil
}

// limitKey names one limit's state for one caller in Redis.
func (r *Remote) limitKey(c check) string {
	k := r.prefix + "rl:" + c.limit.id + ":"
	switch c.limit.By {
	case ByIP:
		return k + c.key.a.String()
	case ByRoute:
		return k
	default:
		return k + strconv.Quote(c.key.s)
	}
}
